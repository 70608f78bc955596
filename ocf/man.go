package ocf

import (
	"fmt"
	"io"
	"strings"

	"github.com/qinqbridge/qinqbridge/internal/roff"
)

// ActionMan is not an OCF action: it prints the agent's man page, for
// `make man` and for people. Pacemaker never calls it.
const ActionMan = "man"

// ManName is the agent's man page name, as resource-agents names its own:
// ocf_<provider>_<name>, in section 7.
func (a *Agent) ManName() string {
	if a.Provider == "" {
		return "ocf_" + a.Name
	}
	return "ocf_" + a.Provider + "_" + a.Name
}

// WriteMan writes the agent's man page (section 7) from the same table
// its meta-data comes from: descriptions, every parameter with its type,
// default and flags, every action with its recommended timeout, interval,
// depth and role (as the OCF 1.1 meta-data lists them), and a crmsh example
// built from those.
func (a *Agent) WriteMan(w io.Writer) error {
	if err := a.Check(); err != nil {
		return err
	}
	var p roff.Page
	p.Title(a.ManName(), 7, orDefault(a.Provider, "OCF"), "OCF resource agents")

	p.Section("NAME")
	p.Line(roff.Escape(a.ManName() + " - " + a.ShortDesc))

	p.Section("SYNOPSIS")
	p.Line("[" + roff.Bold("OCF_RESKEY_") + roff.Italic("parameter") + roff.Bold("=") + roff.Italic("value") + "]... " +
		roff.Bold(a.Name) + " " + roff.Escape("{"+strings.Join(a.actionNames(), " | ")+"}"))

	p.Section("DESCRIPTION")
	p.Text(orDefault(a.LongDesc, a.ShortDesc))
	p.NewParagraph()
	p.Text(fmt.Sprintf("Resource agent %s, version %s. Pacemaker runs it with the action as its only argument and "+
		"the parameters in the environment as OCF_RESKEY_<name>; it exits with an OCF status, and on failure "+
		"prints the reason on a line starting with \"ocf-exit-reason:\".", a.Spec(), orDefault(a.Version, "unknown")))

	if len(a.Params) > 0 {
		p.Section("SUPPORTED PARAMETERS")
		for _, prm := range a.Params {
			facts := "(" + strings.Join(paramFacts(prm), ", ") + ")"
			p.Tagged(roff.Bold(prm.Name)+roff.Escape(" - "+prm.ShortDesc), "")
			if prm.LongDesc != "" {
				p.IndentedText(prm.LongDesc + "\n\n" + facts)
			} else {
				p.IndentedText(facts)
			}
		}
	}

	p.Section("SUPPORTED ACTIONS")
	p.Para("With the recommended minimum timeout and, for monitors, interval, depth (OCF_CHECK_LEVEL) and role:")
	for _, act := range a.listedActions(OCF11) {
		p.Tagged(roff.Bold(act.Name), strings.Join(actionFacts(act), ", "))
	}

	p.Section("EXAMPLE")
	p.Para("A crmsh configuration with the recommended operations (parameters left out keep their defaults):")
	p.Literal(a.crmExample())

	p.Section("SEE ALSO")
	p.Line(roff.Bold("crm") + "(8), " + roff.Bold("pcs") + "(8), " + roff.Bold("crm_resource") + "(8), " + roff.Bold("ocf-tester") + "(8)")

	_, err := p.WriteTo(w)
	return err
}

// Spec is the agent's resource spec, e.g. "ocf:qinqbridge:bridge".
func (a *Agent) Spec() string {
	return "ocf:" + orDefault(a.Provider, "PROVIDER") + ":" + a.Name
}

// actionNames lists the action names the agent answers, in table order,
// without repeats.
func (a *Agent) actionNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, act := range a.listedActions(OCF11) {
		if !seen[act.Name] {
			seen[act.Name] = true
			names = append(names, act.Name)
		}
	}
	return names
}

func paramFacts(p Param) []string {
	facts := []string{p.Type.String()}
	if p.Range != nil {
		facts[0] += " " + p.Range.String()
	}
	if p.Required {
		facts = append(facts, "required")
	} else {
		facts = append(facts, "optional")
	}
	if p.Default != "" {
		facts = append(facts, "default: "+p.Default)
	}
	if p.Unique {
		facts = append(facts, "unique")
	}
	if p.UniqueGroup != "" {
		facts = append(facts, "unique with the group "+p.UniqueGroup)
	}
	if p.Reloadable {
		facts = append(facts, "reloadable: a change runs reload-agent, no restart")
	}
	return facts
}

func actionFacts(act Action) []string {
	facts := []string{"timeout " + duration(act.Timeout)}
	if act.Interval > 0 {
		facts = append(facts, "interval "+duration(act.Interval))
	}
	if act.Depth > 0 {
		facts = append(facts, fmt.Sprintf("depth %d", act.Depth))
	}
	if act.Role != "" {
		facts = append(facts, "role "+string(act.Role))
	}
	if act.Name == ActionReloadAgent || act.Name == ActionReload {
		facts = append(facts, "OCF 1.1 only")
	}
	return facts
}

// crmExample is a primitive with every action's recommended operation and
// a clone of it: promotable if the agent promotes.
func (a *Agent) crmExample() []string {
	prim, clone := "p_"+a.Name, "cl_"+a.Name
	lines := []string{"primitive " + prim + " " + a.Spec()}
	var params []string
	for _, p := range a.Params {
		if p.Required {
			params = append(params, p.Name+"=VALUE")
		}
	}
	if len(params) > 0 {
		lines = append(lines, "params "+strings.Join(params, " "))
	}
	for _, act := range a.Actions {
		if act.Name == ActionMetaData || act.Name == ActionValidateAll {
			continue
		}
		op := fmt.Sprintf("op %s", act.Name)
		if act.Interval > 0 {
			op += " interval=" + duration(act.Interval)
		}
		op += " timeout=" + duration(act.Timeout)
		if act.Interval == 0 {
			op += " interval=0s"
		}
		if act.Role != "" {
			op += " role=" + string(act.Role)
		}
		if act.Depth > 0 {
			op += fmt.Sprintf(" OCF_CHECK_LEVEL=%d", act.Depth)
		}
		lines = append(lines, op)
	}
	for i := range lines[:len(lines)-1] {
		lines[i] += " \\"
	}
	for i := 1; i < len(lines); i++ {
		lines[i] = "    " + lines[i]
	}
	meta := "interleave=true"
	if a.implements(ActionPromote) {
		clone = "ms_" + a.Name
		meta = "promotable=true promoted-max=1 " + meta
		if a.implements(ActionNotify) {
			meta += " notify=true"
		}
	}
	return append(lines, "clone "+clone+" "+prim+" meta "+meta)
}
