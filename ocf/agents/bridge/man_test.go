package main

import (
	"testing"

	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/agenttest"
)

// The man page names every parameter and action of the agent's table.
func TestManPage(t *testing.T) { agenttest.CheckManPage(t, newAgent(&bridge{}), "p_bridge") }
