// Package config decodes and validates the qinqbridge configuration file.
//
// The file is TOML. Each [[translation]] joins two ends, each a parent
// interface plus one 802.1Q tag (vlan) or two tags (outer, inner), with a
// bridge. Id fields may be ranges ("1-1000"), which expand position by
// position into one Translation each. Parse reports every problem it finds at
// once, each with the line it concerns, and derives the deterministic kernel
// link names (linkName, End.Links, Translation.Bridge) the rest of bridgectl
// uses, so that every node of a cluster builds the same names from the same
// file. A [[passthrough]] names two trunks, the parents of a
// translation's ends, across which the slow protocols (LACP) cross while
// their group's guard is open.
//
// Load is the one way every command and agent reads the file. It refuses
// files over maxFileSize, and Parse refuses files whose ranges expand to
// more than maxTranslations, both before allocating for them: the tools
// and the bridge agent's monitor parse the file often.
//
// The package is pure Go: it never talks to the kernel. Whether the parents
// exist or their MTUs suffice is decided later, by the planner.
package config
