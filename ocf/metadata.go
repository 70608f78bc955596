package ocf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"time"
)

// Dialect is the OCF version meta-data is written for.
//
// The two differ because the validators disagree. ocf-tester validates
// meta-data against ra-api-1.dtd (OCF 1.0), which rejects everything OCF 1.1
// added: the reload-agent action, and the reloadable and unique-group
// parameter attributes. Pacemaker only uses reload-agent when the meta-data
// says <version>1.1</version> and lists it (controld_metadata.c). Pacemaker
// 2.1 announces OCF 1.1 to every agent it runs, meta-data included, through
// OCF_RA_VERSION_MAJOR/MINOR; ocf-tester and a shell announce nothing. So
// the meta-data action answers each reader in the dialect it understands:
// see DialectFor.
type Dialect int

const (
	// OCF10 is valid against ra-api-1.dtd: <version>1.0</version> and none
	// of the OCF 1.1 additions. It also leaves
	// out reload: an OCF 1.0 manager reads a listed reload as "apply changed
	// non-unique parameters" (Pacemaker's legacy reload), which is not what
	// an OCF 1.1 reload does, so a restart is the only safe way for it.
	OCF10 Dialect = iota
	// OCF11 is <version>1.1</version> with everything the table declares.
	// It is still valid against ra-api-1.dtd unless the table uses
	// reload-agent, Reloadable or UniqueGroup.
	OCF11
)

func (d Dialect) String() string {
	if d == OCF11 {
		return "OCF 1.1"
	}
	return "OCF 1.0"
}

// DialectFor returns the dialect for the caller described by env: OCF11
// when it announced OCF 1.1 or later (Pacemaker >= 2.1, and crm_resource,
// crmsh and pcs through it), OCF10 otherwise (ocf-tester, a shell, older
// resource managers).
func DialectFor(env *Env) Dialect {
	if env.APIMajor > 1 || (env.APIMajor == 1 && env.APIMinor >= 1) {
		return OCF11
	}
	return OCF10
}

// MetaData returns the agent's meta-data XML in the given dialect. It reads
// nothing but the table, so it works for any user and touches no files.
func (a *Agent) MetaData(d Dialect) ([]byte, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	x := xmlAgent{
		Name:       a.Name,
		Version:    a.Version,
		OCFVersion: "1.0",
		LongDesc:   desc(orDefault(a.LongDesc, a.ShortDesc)),
		ShortDesc:  desc(a.ShortDesc),
	}
	if d == OCF11 {
		x.OCFVersion = "1.1"
	}
	for _, p := range a.Params {
		xp := xmlParam{
			Name:      p.Name,
			Required:  bit(p.Required),
			Unique:    bit(p.Unique),
			LongDesc:  desc(p.longDesc()),
			ShortDesc: desc(p.ShortDesc),
			Content:   xmlContent{Type: p.Type.String(), Default: p.Default},
		}
		if d == OCF11 {
			xp.UniqueGroup = p.UniqueGroup
			if p.Reloadable {
				xp.Reloadable = "1"
			}
		}
		x.Parameters.Params = append(x.Parameters.Params, xp)
	}

	for _, act := range a.listedActions(d) {
		xa := xmlAction{Name: act.Name, Timeout: duration(act.Timeout)}
		if act.Interval > 0 {
			xa.Interval = duration(act.Interval)
		}
		if act.Depth > 0 {
			xa.Depth = fmt.Sprint(act.Depth)
		}
		xa.Role = string(act.Role)
		x.Actions.Actions = append(x.Actions.Actions, xa)
	}

	var buf bytes.Buffer
	// Written by hand: xml.Header adds an encoding declaration, and
	// encoding/xml cannot produce a DOCTYPE, which xmllint --valid needs to
	// find the DTD.
	buf.WriteString("<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n")
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(x); err != nil {
		return nil, fmt.Errorf("meta-data of %s: %w", a.Name, err)
	}
	buf.WriteByte('\n')
	// encoding/xml writes empty elements as <a></a>; the DTD accepts that,
	// but people read meta-data too. Character data and attribute values
	// are escaped, so "></" can only be tag syntax here.
	out := buf.Bytes()
	for _, el := range []string{"content", "action"} {
		out = bytes.ReplaceAll(out, []byte("></"+el+">"), []byte("/>"))
	}
	return out, nil
}

// listedActions returns the actions the meta-data lists in dialect d: the
// table's, plus the built-in meta-data and validate-all unless the table
// has them, less what OCF 1.0 does not know (see OCF10). The man page lists
// the same.
func (a *Agent) listedActions(d Dialect) []Action {
	actions := a.Actions
	if !a.implements(ActionMetaData) {
		actions = append(actions[:len(actions):len(actions)], Action{Name: ActionMetaData, Timeout: defaultMetaDataTimeout})
	}
	if !a.implements(ActionValidateAll) {
		actions = append(actions[:len(actions):len(actions)], Action{Name: ActionValidateAll, Timeout: defaultValidateAllTimeout})
	}
	if d == OCF11 {
		return actions
	}
	out := make([]Action, 0, len(actions))
	for _, act := range actions {
		if act.Name != ActionReloadAgent && act.Name != ActionReload {
			out = append(out, act)
		}
	}
	return out
}

// The XML structure, in the element order ra-api-1.dtd and the OCF 1.1
// schema both require (version, longdesc, shortdesc, parameters, actions;
// longdesc before shortdesc inside a parameter too).
type xmlAgent struct {
	XMLName    xml.Name `xml:"resource-agent"`
	Name       string   `xml:"name,attr"`
	Version    string   `xml:"version,attr,omitempty"`
	OCFVersion string   `xml:"version"`
	LongDesc   desc     `xml:"longdesc"`
	ShortDesc  desc     `xml:"shortdesc"`
	Parameters struct {
		Params []xmlParam `xml:"parameter"`
	} `xml:"parameters"`
	Actions struct {
		Actions []xmlAction `xml:"action"`
	} `xml:"actions"`
}

// longDesc is the parameter's meta-data longdesc: LongDesc (else
// ShortDesc) and, for a bounded integer, its range, which <content> cannot
// carry.
func (p Param) longDesc() string {
	d := orDefault(p.LongDesc, p.ShortDesc)
	if p.Range != nil {
		d += "\n\nAllowed values: " + p.Range.String() + "."
	}
	return d
}

type xmlParam struct {
	Name        string     `xml:"name,attr"`
	Required    string     `xml:"required,attr"`
	Unique      string     `xml:"unique,attr"`
	UniqueGroup string     `xml:"unique-group,attr,omitempty"`
	Reloadable  string     `xml:"reloadable,attr,omitempty"`
	LongDesc    desc       `xml:"longdesc"`
	ShortDesc   desc       `xml:"shortdesc"`
	Content     xmlContent `xml:"content"`
}

type xmlContent struct {
	Type    string `xml:"type,attr"`
	Default string `xml:"default,attr,omitempty"`
}

type xmlAction struct {
	Name     string `xml:"name,attr"`
	Timeout  string `xml:"timeout,attr"`
	Interval string `xml:"interval,attr,omitempty"`
	Depth    string `xml:"depth,attr,omitempty"`
	Role     string `xml:"role,attr,omitempty"`
}

// desc is a longdesc or shortdesc. It marshals itself because encoding/xml
// escapes newlines in character data as &#xA;, which makes multi-line
// descriptions unreadable for anyone running "meta-data" by hand; and it
// adds lang="en", which the OCF 1.1 schema requires.
type desc string

func (d desc) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "lang"}, Value: "en"})
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeToken(xml.CharData(d)); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// duration formats d the way agents' meta-data usually does ("20s"),
// falling back to milliseconds, which Pacemaker also parses.
func duration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
