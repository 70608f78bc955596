//go:build e2e

package e2e

import (
	"encoding/xml"
	"fmt"
	"time"
)

// crmStatus is the part of `crm_mon --output-as=xml` the test reads.
type crmStatus struct {
	Nodes []struct {
		Name   string `xml:"name,attr"`
		Online bool   `xml:"online,attr"`
	} `xml:"nodes>node"`
	Clones []struct {
		ID        string `xml:"id,attr"`
		Resources []struct {
			ID     string `xml:"id,attr"`
			Role   string `xml:"role,attr"`
			Failed bool   `xml:"failed,attr"`
			Nodes  []struct {
				Name string `xml:"name,attr"`
			} `xml:"node"`
		} `xml:"resource"`
	} `xml:"resources>clone"`
	History []struct {
		Name      string `xml:"name,attr"`
		Resources []struct {
			ID        string `xml:"id,attr"`
			FailCount int    `xml:"fail-count,attr"`
			Ops       []struct {
				Call int    `xml:"call,attr"`
				Task string `xml:"task,attr"`
				RC   int    `xml:"rc,attr"`
			} `xml:"operation_history"`
		} `xml:"resource_history"`
	} `xml:"node_history>node"`
	Failures []struct {
		Node string `xml:"node,attr"`
		Op   string `xml:"op_key,attr"`
		Exit string `xml:"exitreason,attr"`
	} `xml:"failures>failure"`
}

// status reads the cluster's status from node n.
func status(n *node) (*crmStatus, error) {
	out, err := n.runT(60*time.Second, "crm_mon", "-1", "--output-as=xml", "--include=all")
	if err != nil {
		return nil, err
	}
	var s crmStatus
	if err := xml.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("crm_mon output: %w", err)
	}
	return &s, nil
}

// roles maps node name to the role of a clone's instance there
// ("Promoted", "Unpromoted", "Started", ...).
func (s *crmStatus) roles(clone string) map[string]string {
	m := map[string]string{}
	for _, c := range s.Clones {
		if c.ID != clone {
			continue
		}
		for _, r := range c.Resources {
			for _, n := range r.Nodes {
				m[n.Name] = r.Role
			}
		}
	}
	return m
}

func (s *crmStatus) online() map[string]bool {
	m := map[string]bool{}
	for _, n := range s.Nodes {
		m[n.Name] = n.Online
	}
	return m
}

// opKey is an operation of a resource on a node, told apart by call id.
type opKey struct {
	node, rsc, task string
	call            int
}

// ops lists the operations of rsc in the node histories.
func (s *crmStatus) ops(rsc string) map[opKey]bool {
	m := map[opKey]bool{}
	for _, n := range s.History {
		for _, r := range n.Resources {
			if r.ID != rsc {
				continue
			}
			for _, o := range r.Ops {
				m[opKey{n.Name, rsc, o.Task, o.Call}] = true
			}
		}
	}
	return m
}

// failCount sums the fail counts of rsc over the nodes.
func (s *crmStatus) failCount(rsc string) int {
	c := 0
	for _, n := range s.History {
		for _, r := range n.Resources {
			if r.ID == rsc {
				c += r.FailCount
			}
		}
	}
	return c
}
