// Package ocf implements the OCF resource agent protocol once, so that each
// Pacemaker resource agent of qinqbridge is a short main over it, the way
// CNI plugins are over skel.PluginMain.
//
// An agent is one table, an Agent: name, descriptions, parameters, and
// actions with the functions that perform them. From it the package derives
// the meta-data XML (valid against ra-api-1.dtd for ocf-tester, and OCF 1.1
// for Pacemaker >= 2.1, see Dialect), dispatch on argv[1], parameter
// defaults and checks, validate-all, a context with a deadline just inside
// Pacemaker's timeout, a Logger that writes to the journal, and the exit
// code with the "ocf-exit-reason:" line Pacemaker displays.
//
//	func main() {
//		ocf.Run(&ocf.Agent{
//			Name: "bridge", Version: "1.0",
//			ShortDesc: "QinQ translation bridges",
//			Params: []ocf.Param{{Name: "config", ShortDesc: "Configuration file",
//				Default: "/etc/qinqbridge/qinqbridge.toml"}},
//			Actions: []ocf.Action{
//				{Name: ocf.ActionStart, Func: start, Timeout: 60 * time.Second},
//				{Name: ocf.ActionStop, Func: stop, Timeout: 60 * time.Second},
//				{Name: ocf.ActionMonitor, Func: monitor, Timeout: 20 * time.Second, Interval: 10 * time.Second},
//			},
//		})
//	}
//
//	func start(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
//		cfg, _, err := config.Load(r.Param("config"))
//		if err != nil {
//			return 0, ocf.Fail(ocf.ErrConfigured, "config %s: %w", r.Param("config"), err)
//		}
//		...
//		return ocf.Success, nil
//	}
//
// ocf/internal/exampleagent is a complete promotable agent that passes
// ocf-tester.
package ocf
