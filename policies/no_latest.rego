# What is pushed or deployed names a version, never `latest` (or no tag, which means latest).
package containerkit.no_latest

import rego.v1

deny contains msg if {
	input.tool == "push_image"
	latest(input.params.image)
	msg := sprintf("image %s is tagged latest: tag a version first (tag_image)", [input.params.image])
}

deny contains msg if {
	input.tool in {"generate_k8s_manifests", "deploy_application"}
	some m in input.manifests
	some c in m.spec.template.spec.containers
	latest(c.image)
	msg := sprintf("%s %s runs image %s tagged latest: tag a version first (tag_image)", [m.kind, m.metadata.name, c.image])
}

# `(?i)`: LATEST and Latest are latest too (needs regex's Unicode features, see README).
latest(image) if regex.match(`(?i):latest$`, image)

latest(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
}
