// The kinds the manifests may use, each with the module of kubernetes-models
// (or one of its CRD packages) that describes it. A rendered object of any
// other apiVersion/kind is an error: nothing passes unchecked.
export const REGISTRY = [
  ["v1", "Namespace", "kubernetes-models/v1/Namespace"],
  ["v1", "ConfigMap", "kubernetes-models/v1/ConfigMap"],
  ["v1", "Secret", "kubernetes-models/v1/Secret"],
  ["v1", "Service", "kubernetes-models/v1/Service"],
  ["v1", "ServiceAccount", "kubernetes-models/v1/ServiceAccount"],
  ["v1", "PersistentVolumeClaim", "kubernetes-models/v1/PersistentVolumeClaim"],
  ["v1", "ResourceQuota", "kubernetes-models/v1/ResourceQuota"],
  ["v1", "LimitRange", "kubernetes-models/v1/LimitRange"],
  ["v1", "Pod", "kubernetes-models/v1/Pod"],
  ["apps/v1", "Deployment", "kubernetes-models/apps/v1/Deployment"],
  ["apps/v1", "StatefulSet", "kubernetes-models/apps/v1/StatefulSet"],
  ["batch/v1", "Job", "kubernetes-models/batch/v1/Job"],
  ["networking.k8s.io/v1", "Ingress", "kubernetes-models/networking.k8s.io/v1/Ingress"],
  ["networking.k8s.io/v1", "NetworkPolicy", "kubernetes-models/networking.k8s.io/v1/NetworkPolicy"],
  ["policy/v1", "PodDisruptionBudget", "kubernetes-models/policy/v1/PodDisruptionBudget"],
  ["autoscaling/v2", "HorizontalPodAutoscaler", "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler"],
  ["keda.sh/v1alpha1", "ScaledObject", "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject"],
  ["keda.sh/v1alpha1", "TriggerAuthentication", "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication"],
  ["cert-manager.io/v1", "Issuer", "@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer"],
  ["cert-manager.io/v1", "ClusterIssuer", "@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer"],
  ["cert-manager.io/v1", "Certificate", "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate"],
  ["monitoring.coreos.com/v1", "ServiceMonitor", "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"],
  ["monitoring.coreos.com/v1", "PodMonitor", "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor"],
].map(([apiVersion, kind, module]) => ({
  apiVersion,
  kind,
  module,
  // The name of the entry's definition in the generated schema.
  ref: `K_${apiVersion.replace(/[^A-Za-z0-9]/g, "_")}_${kind}`,
}));

export function lookup(apiVersion, kind) {
  return REGISTRY.find((e) => e.apiVersion === apiVersion && e.kind === kind);
}
