package plan

import "fmt"

// Attr is a link attribute a plan step changes.
type Attr int

// Attributes only a delete and create can change (Recreate).
const (
	AttrKind Attr = iota
	AttrParent
	AttrProtocol
	AttrID
)

// Attributes fixed in place (Modify).
const (
	AttrGroup Attr = iota + 16
	AttrMTU
	AttrMaster
	AttrSTP
	AttrMcastSnooping
	AttrAgeing
	AttrGroupFwdMask
	AttrAlias
	AttrAddrGenMode
	AttrGuard
	AttrUp
)

// Attributes of a tc datapath filter, fixed in place (replaced).
const (
	AttrOut Attr = iota + 32
	AttrSkipHW
)

var attrNames = map[Attr]string{
	AttrKind: "kind", AttrParent: "parent", AttrProtocol: "protocol", AttrID: "id",
	AttrGroup: "group", AttrMTU: "mtu", AttrMaster: "master", AttrSTP: "stp",
	AttrMcastSnooping: "mcast_snooping", AttrAgeing: "ageing", AttrGroupFwdMask: "group_fwd_mask",
	AttrAlias: "alias", AttrAddrGenMode: "addrgenmode", AttrGuard: "guard", AttrUp: "up",
	AttrOut: "out", AttrSkipHW: "skip_hw",
}

// String is the attribute's name in plan and check output.
func (a Attr) String() string {
	if n, ok := attrNames[a]; ok {
		return n
	}
	return fmt.Sprintf("attr(%d)", int(a))
}

// Result counts what an apply did.
type Result struct {
	Created, Recreated, Modified, Deleted int
}

// Add sums two counts.
func (r Result) Add(o Result) Result {
	return Result{r.Created + o.Created, r.Recreated + o.Recreated, r.Modified + o.Modified, r.Deleted + o.Deleted}
}

func (r Result) String() string {
	return fmt.Sprintf("%d created, %d recreated, %d modified, %d deleted", r.Created, r.Recreated, r.Modified, r.Deleted)
}
