#include "images/test_images.hpp"

#include <array>
#include <functional>
#include <stdexcept>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace jobqueue::testing {
namespace {

std::string Encode(const char* extension, const cv::Mat& image, const std::vector<int>& params = {}) {
  std::vector<uchar> buffer;
  if (!cv::imencode(extension, image, buffer, params)) {
    throw std::runtime_error(std::string("test image: cannot encode ") + extension);
  }
  return std::string(buffer.begin(), buffer.end());
}

cv::Mat Gradient(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int b = width > 1 ? x * 255 / (width - 1) : 128;
      const int g = height > 1 ? y * 255 / (height - 1) : 128;
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(b), static_cast<uchar>(g),
                                            static_cast<uchar>((b + g) / 2));
    }
  }
  return image;
}

cv::Mat LeftTransparent(int width, int height) {
  cv::Mat image(height, width, CV_8UC4, cv::Scalar(0, 0, 0, 0));
  image.colRange(width / 2, width)
      .setTo(cv::Scalar(kAlphaPngColor[0], kAlphaPngColor[1], kAlphaPngColor[2], 255));
  return image;
}

// --- Minimal PNG writer: stored (uncompressed) deflate blocks -------------

std::uint32_t Crc32(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t Adler32(std::string_view bytes) {
  std::uint32_t a = 1;
  std::uint32_t b = 0;
  for (unsigned char byte : bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return b << 16 | a;
}

void PutBe32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift & 0xFF));
}

void PutBe16(std::string& out, std::uint32_t value) {
  out.push_back(static_cast<char>(value >> 8 & 0xFF));
  out.push_back(static_cast<char>(value & 0xFF));
}

// A zlib stream of stored deflate blocks (no compression, no zlib needed).
std::string ZlibStored(std::string_view data) {
  std::string out = "\x78\x01";
  std::size_t at = 0;
  do {
    const std::size_t length = std::min<std::size_t>(65535, data.size() - at);
    const bool last = at + length == data.size();
    out.push_back(last ? 1 : 0);
    out.push_back(static_cast<char>(length & 0xFF));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(~length & 0xFF));
    out.push_back(static_cast<char>((~length >> 8) & 0xFF));
    out.append(data.substr(at, length));
    at += length;
  } while (at < data.size());
  PutBe32(out, Adler32(data));
  return out;
}

const std::string kPngSignature("\x89PNG\r\n\x1a\n", 8);

std::string Ihdr(std::uint32_t width, std::uint32_t height, int bit_depth, int colour_type, bool interlaced) {
  std::string data;
  PutBe32(data, width);
  PutBe32(data, height);
  data.push_back(static_cast<char>(bit_depth));
  data.push_back(static_cast<char>(colour_type));
  data.push_back(0);  // deflate
  data.push_back(0);  // adaptive filtering
  data.push_back(interlaced ? 1 : 0);
  return PngChunk("IHDR", data);
}

// Sample(x, y, channel) gives a sample of `bit_depth` bits; rows are packed
// MSB first with filter type 0, per Adam7 pass when interlaced.
using Sample = std::function<int(int x, int y, int channel)>;

std::string PackScanlines(int width, int height, int channels, int bit_depth, bool interlaced,
                          const Sample& sample) {
  struct Pass {
    int x0, y0, dx, dy;
  };
  static const Pass kWhole[] = {{0, 0, 1, 1}};
  static const Pass kAdam7[] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  std::string raw;
  const Pass* begin = interlaced ? kAdam7 : kWhole;
  const Pass* end = interlaced ? kAdam7 + 7 : kWhole + 1;
  for (const Pass* pass = begin; pass != end; ++pass) {
    if (pass->x0 >= width || pass->y0 >= height) continue;  // empty pass: no bytes at all
    for (int y = pass->y0; y < height; y += pass->dy) {
      raw.push_back(0);  // filter: none
      int bits = 0;
      int accumulator = 0;
      for (int x = pass->x0; x < width; x += pass->dx) {
        for (int c = 0; c < channels; ++c) {
          const int value = sample(x, y, c);
          if (bit_depth == 16) {
            raw.push_back(static_cast<char>(value >> 8 & 0xFF));
            raw.push_back(static_cast<char>(value & 0xFF));
            continue;
          }
          accumulator = accumulator << bit_depth | (value & ((1 << bit_depth) - 1));
          bits += bit_depth;
          if (bits == 8) {
            raw.push_back(static_cast<char>(accumulator));
            accumulator = 0;
            bits = 0;
          }
        }
      }
      if (bits > 0) raw.push_back(static_cast<char>(accumulator << (8 - bits)));
    }
  }
  return raw;
}

std::string HandmadePng(int width, int height, int bit_depth, int colour_type, bool interlaced,
                        const std::string& extra_chunks, const Sample& sample) {
  const int channels = colour_type == 2 ? 3 : colour_type == 6 ? 4 : colour_type == 4 ? 2 : 1;
  std::string png = kPngSignature;
  png += Ihdr(width, height, bit_depth, colour_type, interlaced);
  png += extra_chunks;
  png += PngChunk("IDAT", ZlibStored(PackScanlines(width, height, channels, bit_depth, interlaced, sample)));
  png += PngChunk("IEND", "");
  return png;
}

// --- EXIF --------------------------------------------------------------------

class TiffWriter {
 public:
  explicit TiffWriter(bool little_endian) : little_(little_endian) {}
  void U16(std::string& out, std::uint32_t v) const {
    if (little_) {
      out.push_back(static_cast<char>(v & 0xFF));
      out.push_back(static_cast<char>(v >> 8 & 0xFF));
    } else {
      PutBe16(out, v);
    }
  }
  void U32(std::string& out, std::uint32_t v) const {
    if (little_) {
      U16(out, v & 0xFFFF);
      U16(out, v >> 16);
    } else {
      PutBe32(out, v);
    }
  }
  // A 12-byte IFD entry whose value is an offset (or a LONG).
  void Entry(std::string& out, std::uint32_t tag, std::uint32_t type, std::uint32_t count,
             std::uint32_t value) const {
    U16(out, tag);
    U16(out, type);
    U32(out, count);
    U32(out, value);
  }
  // A SHORT held in the entry, left-justified in the 4-byte value field.
  void ShortEntry(std::string& out, std::uint32_t tag, std::uint32_t value) const {
    U16(out, tag);
    U16(out, 3);
    U32(out, 1);
    U16(out, value);
    U16(out, 0);
  }

 private:
  bool little_;
};

std::string ExifApp1(int orientation, const ExifOptions& options) {
  const TiffWriter w(options.little_endian);
  // Layout (offsets from the TIFF header): header 8, IFD0, its data, GPS IFD.
  const std::uint32_t ifd0_entries = options.gps ? 3 : 2;
  const std::uint32_t ifd0_size = 2 + 12 * ifd0_entries + 4;
  const std::uint32_t make_offset = 8 + ifd0_size;  // "TestCam\0"
  const std::uint32_t gps_offset = make_offset + 8;
  const std::uint32_t gps_size = 2 + 12 * 2 + 4;
  const std::uint32_t latitude_offset = gps_offset + gps_size;  // 3 RATIONALs

  std::string tiff = options.little_endian ? std::string("II") : std::string("MM");
  w.U16(tiff, 42);
  w.U32(tiff, 8);
  w.U16(tiff, ifd0_entries);
  w.Entry(tiff, 0x010F, 2, 8, make_offset);  // Make, ASCII
  w.ShortEntry(tiff, 0x0112, static_cast<std::uint32_t>(orientation));
  if (options.gps) w.Entry(tiff, 0x8825, 4, 1, gps_offset);  // GPSInfo IFD pointer
  w.U32(tiff, 0);  // no IFD1
  tiff.append("TestCam", 8);
  if (options.gps) {
    w.U16(tiff, 2);
    tiff.append(options.little_endian ? "\x01\x00\x02\x00" : "\x00\x01\x00\x02", 4);  // GPSLatitudeRef ASCII
    w.U32(tiff, 2);
    tiff.append("N\0\0\0", 4);
    w.Entry(tiff, 0x0002, 5, 3, latitude_offset);  // GPSLatitude, 3 RATIONALs
    w.U32(tiff, 0);
    for (std::uint32_t value : {48u, 1u, 51u, 1u, 2988u, 100u}) w.U32(tiff, value);
  }
  std::string segment = "\xFF\xE1";
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  PutBe16(segment, static_cast<std::uint32_t>(payload.size() + 2));
  return segment + payload;
}

cv::Mat Quadrants(int width, int height) {
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const int half_w = width / 2;
  const int half_h = height / 2;
  image(cv::Rect(0, 0, half_w, half_h)).setTo(cv::Scalar(0, 0, 255));                         // red
  image(cv::Rect(half_w, 0, width - half_w, half_h)).setTo(cv::Scalar(0, 255, 0));             // green
  image(cv::Rect(0, half_h, half_w, height - half_h)).setTo(cv::Scalar(255, 0, 0));            // blue
  return image;
}

}  // namespace

std::string GradientJpeg(int width, int height, int quality, bool progressive) {
  return Encode(".jpg", Gradient(width, height),
                {cv::IMWRITE_JPEG_QUALITY, quality, cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0});
}

std::string GradientPng(int width, int height) { return Encode(".png", Gradient(width, height)); }

std::string GrayJpeg(int width, int height) {
  cv::Mat gray;
  cv::cvtColor(Gradient(width, height), gray, cv::COLOR_BGR2GRAY);
  return Encode(".jpg", gray, {cv::IMWRITE_JPEG_QUALITY, 90});
}

std::string AlphaPng(int width, int height) { return Encode(".png", LeftTransparent(width, height)); }

std::string Png16(int width, int height) {
  cv::Mat image(height, width, CV_16UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at<cv::Vec3w>(y, x) =
          cv::Vec3w(static_cast<std::uint16_t>(width > 1 ? x * 65535 / (width - 1) : 32768),
                    static_cast<std::uint16_t>(height > 1 ? y * 65535 / (height - 1) : 32768), 32768);
    }
  }
  return Encode(".png", image);
}

std::string CheckerboardPng(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const uchar v = ((x + y) % 2) ? 255 : 0;
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(v, v, v);
    }
  }
  return Encode(".png", image);
}

std::string TextImage(int width, int height, const std::string& text) {
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const double scale = height / 40.0;
  cv::putText(image, text, cv::Point(width / 20, height * 2 / 3), cv::FONT_HERSHEY_SIMPLEX, scale,
              cv::Scalar(0, 0, 0), std::max(1, height / 20));
  return Encode(".png", image);
}

std::string WebpLossy(int width, int height) {
  return Encode(".webp", Gradient(width, height), {cv::IMWRITE_WEBP_QUALITY, 80});
}

std::string WebpLossless(int width, int height) {
  return Encode(".webp", Gradient(width, height), {cv::IMWRITE_WEBP_QUALITY, 101});
}

std::string WebpAlpha(int width, int height) {
  return Encode(".webp", LeftTransparent(width, height), {cv::IMWRITE_WEBP_QUALITY, 90});
}

std::string PngChunk(std::string_view type, std::string_view data) {
  std::string chunk;
  PutBe32(chunk, static_cast<std::uint32_t>(data.size()));
  std::string body(type);
  body.append(data);
  chunk += body;
  PutBe32(chunk, Crc32(body));
  return chunk;
}

std::string PalettePng(int width, int height, bool transparent, bool interlaced) {
  const std::string palette("\xFF\x00\x00" "\x00\xFF\x00" "\x00\x00\xFF" "\xFF\xFF\xFF", 12);
  std::string extra = PngChunk("PLTE", palette);
  if (transparent) extra += PngChunk("tRNS", std::string("\x00", 1));
  return HandmadePng(width, height, 8, 3, interlaced, extra,
                     [](int x, int y, int) { return (x / 8 + y / 8) % 4; });
}

std::string GrayPng(int width, int height, int bit_depth, bool interlaced) {
  const int max = (1 << bit_depth) - 1;
  return HandmadePng(width, height, bit_depth, 0, interlaced, "",
                     [=](int x, int, int) { return width > 1 ? x * max / (width - 1) : max; });
}

std::string InterlacedPng(int width, int height) {
  return HandmadePng(width, height, 8, 2, true, "", [=](int x, int y, int c) {
    if (c == 0) return (x * 255) / std::max(1, width - 1);
    if (c == 1) return (y * 255) / std::max(1, height - 1);
    return 128;
  });
}

std::string JpegWithOrientation(int width, int height, int orientation, ExifOptions options) {
  const cv::Mat upright = Quadrants(width, height);
  // Store the inverse of what the orientation asks a viewer to do. Every
  // case is its own inverse except 6 (rotate clockwise) and 8.
  cv::Mat stored;
  switch (orientation) {
    case 2: cv::flip(upright, stored, 1); break;
    case 3: cv::rotate(upright, stored, cv::ROTATE_180); break;
    case 4: cv::flip(upright, stored, 0); break;
    case 5: cv::transpose(upright, stored); break;
    case 6: cv::rotate(upright, stored, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    case 7: cv::transpose(upright, stored); cv::flip(stored, stored, -1); break;
    case 8: cv::rotate(upright, stored, cv::ROTATE_90_CLOCKWISE); break;
    default: stored = upright; break;
  }
  const std::string jpeg = Encode(".jpg", stored, {cv::IMWRITE_JPEG_QUALITY, 95});
  return jpeg.substr(0, 2) + ExifApp1(orientation, options) + jpeg.substr(2);
}

std::string LyingTextChunkPng() {
  std::string png = kPngSignature + Ihdr(1, 1, 8, 2, false);
  PutBe32(png, 0x40000000u);  // 1 GiB declared
  png += "tEXt";
  png += std::string("Comment\0abcdefgh", 16);
  return png;
}

std::string PixelBombPng(std::uint32_t width, std::uint32_t height) {
  return kPngSignature + Ihdr(width, height, 8, 2, false) +
         PngChunk("IDAT", ZlibStored(std::string(64, '\0'))) + PngChunk("IEND", "");
}

std::string PixelBombJpeg(std::uint16_t width, std::uint16_t height) {
  std::string jpeg = GradientJpeg(64, 64);
  const std::size_t sof = jpeg.find("\xFF\xC0");
  if (sof == std::string::npos) throw std::runtime_error("test image: no SOF0 in the JPEG");
  // FFC0, length (2), precision (1), height (2), width (2).
  jpeg[sof + 5] = static_cast<char>(height >> 8);
  jpeg[sof + 6] = static_cast<char>(height & 0xFF);
  jpeg[sof + 7] = static_cast<char>(width >> 8);
  jpeg[sof + 8] = static_cast<char>(width & 0xFF);
  return jpeg;
}

}  // namespace jobqueue::testing
