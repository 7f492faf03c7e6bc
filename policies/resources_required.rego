# Every container declares CPU and memory requests and limits; one replica only warns.
package containerkit.resources

import rego.v1

deny contains msg if {
	input.tool in {"generate_k8s_manifests", "deploy_application"}
	some m in input.manifests
	some c in m.spec.template.spec.containers
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not c.resources[kind][resource]
	msg := sprintf("%s %s container %s has no resources.%s.%s", [m.kind, m.metadata.name, c.name, kind, resource])
}

warn contains msg if {
	input.tool in {"generate_k8s_manifests", "deploy_application"}
	some m in input.manifests
	m.kind == "Deployment"
	object.get(m.spec, "replicas", 1) < 2
	msg := sprintf("Deployment %s runs one replica: a rollout or node loss takes it down", [m.metadata.name])
}
