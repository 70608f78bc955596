package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Proto is a VLAN tag protocol, by its EtherType.
type Proto uint16

// The two tag protocols the kernel's VLAN driver supports.
const (
	Dot1Q  Proto = 0x8100 // 802.1Q customer tag (C-tag)
	Dot1AD Proto = 0x88a8 // 802.1ad service tag (S-tag)
)

// String returns the standard's name, as the configuration spells it.
func (p Proto) String() string {
	switch p {
	case Dot1Q:
		return "802.1Q"
	case Dot1AD:
		return "802.1ad"
	}
	return fmt.Sprintf("0x%04x", uint16(p))
}

// Tag is one VLAN tag.
type Tag struct {
	Proto Proto
	ID    uint16
}

// Stack is a tag stack on a parent interface: the identity of one end's
// bridge port.
type Stack struct {
	Parent string
	Tags   []Tag // outermost first; 1 or 2 tags
}

// String returns e.g. "eth0 802.1ad:100 802.1Q:200".
func (s Stack) String() string {
	var b strings.Builder
	b.WriteString(s.Parent)
	for _, t := range s.Tags {
		b.WriteByte(' ')
		b.WriteString(t.Proto.String())
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(t.ID)))
	}
	return b.String()
}

// Pos is a position in the configuration file.
type Pos struct {
	File string
	Line int // 0: the file as a whole (its size or type)
}

// String returns "FILE:LINE", the form editors and compilers use; "FILE"
// for the file as a whole.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// defaultAgeing is the kernel's own bridge default, kept unless [bridge]
// ageing says otherwise.
const defaultAgeing = 300 * time.Second

// Datapath is how frames cross a translation.
type Datapath string

const (
	// BridgeDatapath: VLAN devices on the trunks, one bridge per
	// translation (the default).
	BridgeDatapath Datapath = "bridge"
	// TCDatapath: tc filters on the trunks' ingress match the tags, rewrite
	// them and redirect the frame to the other trunk; no device is created.
	TCDatapath Datapath = "tc"
)

// Config is a decoded, validated configuration.
type Config struct {
	File     string
	Datapath Datapath
	Guard    struct {
		Block uint32 // tc shared block index of the standby guard
	}
	Bridge struct {
		Ageing time.Duration // MAC ageing time of every bridge, whole seconds
	}
	Translations []Translation // expanded, file order, ranges position by position
	// Groups: the default group first (also when no translation is in
	// it), then the declared ones in file order.
	Groups []Group
}

// Translation is one bridge between two ends, after range expansion.
type Translation struct {
	Name   string // the file's name for single translations; "NAME.POS" (1-based) for ranged ones
	Source string // the name as written
	Index  int    // 1-based position within a range, 0 for a single translation
	Group  string // its group's name (DefaultGroup if the file names none)
	Bridge string // bridge link name
	A, B   End
	Pos    Pos // line of the [[translation]] header
}

// End is one side of a translation: the tag stack whose innermost link
// becomes a port of the translation's bridge.
type End struct {
	Stack
	MTU int // 0 = automatic (the planner derives it from the parents)
	Pos Pos // line of the end's key
}

// Links returns the names of the links of this end, outermost first (1 or 2
// names). The last one is the bridge port; a first one of two is the S-tag
// link, shared by every end with the same parent and outer tag.
func (e End) Links() []string {
	names := make([]string, len(e.Tags))
	for i := range e.Tags {
		names[i] = linkName(e.Parent, e.Tags[:i+1])
	}
	return names
}

// Error is one problem in a configuration file.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "FILE:LINE: msg".
func (e Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found in a configuration file, sorted by line.
type Errors []Error

// Error returns one error per line.
func (e Errors) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}
