# Images are pushed only to the organisation's registries.
package containerkit.registries

import rego.v1

allowed := ["ghcr.io/acme", "localhost:5001"]

deny contains msg if {
	input.tool == "push_image"
	not in_allowed(input.params.image)
	msg := sprintf("image %s is not in an allowed registry (%s)", [input.params.image, concat(", ", allowed)])
}

in_allowed(image) if {
	some prefix in allowed
	startswith(image, concat("", [prefix, "/"]))
}
