module github.com/florianl/go-tc

go 1.17

require (
	github.com/josharian/native v1.1.0
	github.com/mdlayher/netlink v1.11.2
	golang.org/x/sys v0.49.0
)
