# Images run as a non-root user: the Dockerfile's last USER is set and is not root (or 0).
package containerkit.non_root

import rego.v1

users := [trim_space(substring(l, 5, -1)) |
	some raw in split(input.dockerfile.content, "\n")
	l := trim_space(raw)
	regex.match(`(?i)^USER\s`, l)
]

deny contains "the Dockerfile sets no USER: the image would run as root; add USER 10001" if {
	input.tool == "build_image"
	input.dockerfile
	count(users) == 0
}

deny contains msg if {
	input.tool == "build_image"
	count(users) > 0
	last := users[count(users) - 1]
	regex.match(`^(root|0)(:.*)?$`, last)
	msg := sprintf("the Dockerfile's last USER is %s: run as a non-root user (USER 10001)", [last])
}
