# Base images are at least the organisation's minimum runtime versions.
package containerkit.min_runtime

import rego.v1

minimum := {"node": 20, "python": 3.11, "golang": 1.22, "eclipse-temurin": 17}

deny contains msg if {
	input.tool == "build_image"
	some line in split(input.dockerfile.content, "\n")
	# `\s` and `\d`: regex classes that need regex's Unicode features (see README).
	m := regex.find_all_string_submatch_n(`(?i)^\s*FROM\s+(?:--platform=[^ ]+\s+)?(?:[a-z0-9_.:-]+/)*([a-z0-9_.-]+):(\d+(?:\.\d+)?)`, line, 1)
	count(m) > 0
	image := lower(m[0][1])
	version := to_number(m[0][2])
	version < minimum[image]
	msg := sprintf("base image %s:%s is below the minimum %s version %v", [image, m[0][2], image, minimum[image]])
}
