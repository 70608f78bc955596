package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
)

// bridge holds the agent's actions; open reaches the kernel (a fake in
// tests).
type bridge struct {
	open    node.Opener
	carrier carrierLauncher
}

// reloadFailedFile, in the namespace's state directory, remembers why the
// last reload-agent could not apply the file: "DIGEST\nREASON\n". The
// degraded monitor repeats the reason while the file is unchanged, so the
// operator sees why the edit is still not applied.
const reloadFailedFile = "ocf-bridge.reload-failed"

// reasonParts is how many problems an exit reason names before counting
// the rest: Pacemaker shows only its first 128 characters.
const reasonParts = 3

func (b *bridge) start(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	return b.apply(r, false)
}

// reloadAgent applies the file in place. Unlike start it never fails for
// a file it cannot apply (broken, a parent missing, a foreign link in the
// way): the configuration applied before keeps running, the failure is
// logged and remembered, and monitor reports degraded with the reason.
// Failing would make Pacemaker restart the clone — stop deletes every
// translation — or, for a broken file, stop it everywhere.
func (b *bridge) reloadAgent(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	return b.apply(r, true)
}

func (b *bridge) apply(r *ocf.Request, reload bool) (ocf.Status, error) {
	path := r.Param(node.ParamConfig)
	cfg, raw, lerr := node.LoadConfig(path)
	if !reload && lerr != nil {
		return 0, lerr
	}
	n, err := b.open(node.Options(r))
	if err != nil {
		return 0, openFailure(err)
	}
	defer n.Close()
	if lerr != nil { // reload of a file that cannot be loaded
		r.Log.Errorf("not reloaded, the configuration applied before keeps running: %v", lerr)
		return ocf.Success, nil
	}
	digest := short(cfg.Digest())
	v, res, err := n.Apply(cfg, raw)
	if err != nil {
		status, reason := applyFailure(err)
		if reload && v == nil { // refused before changing anything
			r.Log.Errorf("not reloaded, the configuration applied before keeps running: %s", reason)
			if werr := node.WriteFile(filepath.Join(n.Dir(), reloadFailedFile), []byte(digest+"\n"+reason+"\n")); werr != nil {
				r.Log.Warningf("cannot remember the reload failure: %v", werr)
			}
			return ocf.Success, nil
		}
		if v != nil {
			reason = fmt.Sprintf("%s (done before it: %s)", reason, res)
		}
		return 0, ocf.Fail(status, "%s", reason)
	}
	if err := node.RemoveFile(filepath.Join(n.Dir(), reloadFailedFile)); err != nil {
		r.Log.Warningf("%v", err)
	}
	b.ensureCarrier(r, n.Dir(), cfg, true)
	what := "started"
	if reload {
		what = "reloaded"
	}
	if v.Plan.Empty() {
		r.Log.Infof("%s: %s (digest %s) already in place, %d translations", what, path, digest, len(cfg.Translations))
	} else {
		r.Log.Infof("%s: applied %s (digest %s), %d translations: %s", what, path, digest, len(cfg.Translations), res)
	}
	for _, f := range v.Plan.Foreign {
		r.Log.Warningf("left alone: %s", f)
	}
	return ocf.Success, nil
}

// openFailure maps a failure to open the namespace for start, reload and
// validate-all.
func openFailure(err error) error {
	switch {
	case errors.Is(err, node.ErrBadNetNS):
		return ocf.Fail(ocf.ErrConfigured, "%v", err)
	case errors.Is(err, node.ErrNoNetNS):
		return ocf.Fail(ocf.ErrInstalled, "%v", err)
	}
	return err
}

// applyFailure maps an Apply error to the start status and a reason.
//
//   - A parent interface the configuration names is missing: ErrInstalled,
//     this node cannot run the resource (Pacemaker bans it here and runs
//     it elsewhere), as IPaddr2 does for a missing NIC.
//   - Anything else — a foreign link holding a name or a VLAN slot we need,
//     a foreign qdisc on a port, an MTU the trunk cannot carry, a kernel
//     error: ErrGeneric. These are states of this node, not of the
//     configuration every node shares, so ErrConfigured (fatal: stopped on
//     every node) would turn one node's stray interface into a full outage.
//     With Pacemaker's default start-failure-is-fatal the failed start bans
//     this node until `crm resource cleanup`, the other node keeps running.
func applyFailure(err error) (ocf.Status, string) {
	if parents := missingParents(err); len(parents) > 0 {
		return ocf.ErrInstalled, fmt.Sprintf("parent interface %s missing on this node", strings.Join(parents, ", "))
	}
	s := node.Summarize(err, reasonParts)
	if strings.Contains(s, "foreign") {
		return ocf.ErrGeneric, "not adopting foreign objects: " + s
	}
	return ocf.ErrGeneric, s
}

// missingParents lists the parents of every plan.MissingParentError in err.
func missingParents(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if mp, ok := err.(*plan.MissingParentError); ok {
			out = append(out, mp.Parent)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	walk(err)
	if len(out) == 0 { // a type the walk does not know: still one
		if mp, ok := errors.AsType[*plan.MissingParentError](err); ok {
			out = append(out, mp.Parent)
		}
	}
	return out
}

// stop deletes every link of ours and needs no configuration. It succeeds
// once nothing of ours exists, also when the namespace is gone.
func (b *bridge) stop(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	opts := node.Options(r)
	b.stopCarrier(r, node.DirFor(opts)) // before the lock, which it takes to bring its downs up
	n, err := b.open(opts)
	if node.Absent(err) {
		_ = node.RemoveState(opts, reloadFailedFile)
		r.Log.Debugf("nothing to stop: %v", err)
		return ocf.Success, nil
	}
	if err != nil {
		return 0, err
	}
	defer n.Close()
	restoreCarrier(r, n)
	before := -1
	if st, err := node.Links(n); err == nil {
		before = node.Owned(st)
	}
	var derr error
	var foreign []plan.Foreign
	for attempt := 0; attempt < 2; attempt++ {
		foreign, derr = n.Down()
		st, err := node.Links(n)
		if err != nil {
			if derr != nil {
				return 0, fmt.Errorf("down: %w", derr)
			}
			break // the kernel took the deletion; it cannot be re-read now
		}
		if left := node.Owned(st); left > 0 {
			derr = fmt.Errorf("%d links of ours remain after down (%v)", left, derr)
			continue
		}
		if derr != nil {
			r.Log.Warningf("links deleted, but: %v", derr)
			derr = nil
		}
		break
	}
	if derr != nil {
		return 0, derr
	}
	if err := node.RemoveFile(filepath.Join(n.Dir(), reloadFailedFile)); err != nil {
		r.Log.Warningf("%v", err)
	}
	if before != 0 {
		r.Log.Infof("stopped: %d links deleted", before)
	}
	// Not ours: left where they are, and no reason to fail the stop
	// (a failed stop fences the node).
	for _, f := range foreign {
		r.Log.Warningf("left alone: %s", f)
	}
	return ocf.Success, nil
}

// monitor compares the kernel with the configuration last applied on this
// node, then the file with that configuration.
//
//	nothing of ours in the namespace (or no namespace)     7
//	links of ours, nothing recorded as applied: probe      7 (start adopts them)
//	                                            recurring  1
//	a parent interface gone: probe 7, recurring            1
//	a link missing or down (depth 0), any drift (10)       1
//	in place, file edited / broken / reload refused        190
//	in place, a foreign link in our group or in a bridge   190 (foreignDegraded)
//	in place, file as applied                              0
func (b *bridge) monitor(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	n, err := b.open(node.Options(r))
	if node.Absent(err) {
		return r.NotRunning("%v", err)
	}
	if err != nil {
		return 0, err
	}
	defer n.Close()

	applied, err := n.Applied()
	if errors.Is(err, bridgectl.ErrNotApplied) {
		return monitorUnrecorded(r, n)
	}
	if err != nil {
		return 0, fmt.Errorf("applied configuration unreadable: %w", err)
	}

	depth10 := r.CheckLevel >= 10
	v, err := n.Observe(applied, depth10)
	if err != nil {
		if st, lerr := node.Links(n); lerr == nil && node.Owned(st) == 0 {
			return r.NotRunning("no link of ours exists")
		}
		if parents := missingParents(err); len(parents) > 0 {
			if r.IsProbe() {
				r.Log.Infof("parent interface %s missing: not running here", strings.Join(parents, ", "))
				return ocf.NotRunning, nil
			}
			return 0, ocf.Fail(ocf.ErrGeneric, "parent interface %s gone", strings.Join(parents, ", "))
		}
		return 0, ocf.Fail(ocf.ErrGeneric, "%s", node.Summarize(err, reasonParts))
	}
	if node.Owned(v.State) == 0 && len(v.Want) > 0 {
		return r.NotRunning("no link of ours exists")
	}

	var bad []string
	if depth10 {
		bad = drift(v.Plan)
	} else {
		bad = notUp(v)
	}
	if len(bad) > 0 {
		what := "not in place"
		if depth10 {
			what = "drifted"
		}
		return 0, ocf.Fail(ocf.ErrGeneric, "%s %s: %s", links(len(bad)), what, node.SummarizeList(bad, reasonParts))
	}
	// A running resource has its propagator when the file asks for one:
	// started again here if it died (propagating is never done here).
	b.ensureCarrier(r, n.Dir(), applied, false)
	status, err := compareFile(r, n, applied)
	if len(v.Plan.Foreign) == 0 {
		return status, err
	}
	return foreignDegraded(r, v.Plan.Foreign, err)
}

// foreignDegraded reports foreign links in the way of a guarantee — a
// port of a translation bridge that bridgectl did not create, a link in
// its device group without its mark — as degraded, with their names, and
// with the file's own degraded reason, if any, after them.
//
// Degraded, not a failure: a failed monitor makes Pacemaker stop and
// start the clone, and stop deletes every translation of the node, cutting
// all of them for one interface that is not ours; and the restart cannot
// help, since bridgectl never touches a foreign link, so every monitor
// after it fails again until the failcount bans the node. Safety does not
// need the failure: on an unpromoted node the guard drops what a foreign
// port sends, on the promoted node it forwards as whoever enslaved it
// wanted. Degraded keeps the traffic and shows the operator the name in
// crm_mon; the log has the whole story and the fix.
func foreignDegraded(r *ocf.Request, fs []plan.Foreign, fileErr error) (ocf.Status, error) {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Short()
		r.Log.Warningf("%s", f)
	}
	reason := "foreign links left alone: " + node.SummarizeList(names, reasonParts)
	if fileErr != nil {
		reason += "; " + fileErr.Error()
	}
	return 0, ocf.Fail(ocf.Degraded, "%s", reason)
}

// monitorUnrecorded: nothing applied since boot (or since the last stop).
func monitorUnrecorded(r *ocf.Request, n node.Node) (ocf.Status, error) {
	st, err := node.Links(n)
	if err != nil {
		return 0, err
	}
	owned := node.Owned(st)
	if owned == 0 {
		return r.NotRunning("nothing applied")
	}
	// An interrupted start (killed between creating links and recording
	// them) or a state directory lost. A probe says stopped: start applies
	// the file and adopts the links in place, no stop in between.
	if r.IsProbe() {
		r.Log.Warningf("%d links of ours exist but no applied configuration is recorded in %s: reporting stopped, start adopts them", owned, n.Dir())
		return ocf.NotRunning, nil
	}
	return 0, ocf.Fail(ocf.ErrGeneric, "%s of ours but no applied configuration recorded in %s", links(owned), n.Dir())
}

// notUp is the depth-0 check: every wanted link exists, has its kind and
// is administratively up.
func notUp(v *bridgectl.View) []string {
	var bad []string
	for _, w := range v.Want {
		o := v.State.ByName[w.Name]
		switch {
		case o == nil:
			bad = append(bad, w.Name+" missing")
		case o.Kind != string(w.Kind):
			bad = append(bad, fmt.Sprintf("%s is %q, not %s", w.Name, o.Kind, w.Kind))
		case !o.Up:
			bad = append(bad, w.Name+" down")
		}
	}
	return bad
}

// drift is the depth-10 check: every step of the plan from the kernel to
// the applied configuration, guard binding included.
func drift(p *plan.Plan) []string {
	var bad []string
	for _, s := range p.Steps {
		switch s.Op {
		case plan.Create:
			bad = append(bad, s.Link.Name+" missing")
		case plan.Delete:
			bad = append(bad, s.Have.Name+" not in the applied configuration")
		default:
			cs := make([]string, len(s.Changes))
			for i, c := range s.Changes {
				cs[i] = c.String()
			}
			bad = append(bad, s.Link.Name+" "+strings.Join(cs, ", "))
		}
	}
	return bad
}

// compareFile: the kernel matches the applied configuration; is the file
// still that configuration? Never a failure: at worst degraded, with how
// to apply it.
func compareFile(r *ocf.Request, n node.Node, applied *config.Config) (ocf.Status, error) {
	path := r.Param(node.ParamConfig)
	cfg, _, err := node.LoadConfig(path)
	if err != nil {
		return 0, ocf.Fail(ocf.Degraded, "applied configuration runs; file: %v", err)
	}
	want := short(cfg.Digest())
	if want == short(applied.Digest()) {
		return ocf.Success, nil
	}
	if b, err := node.ReadFile(filepath.Join(n.Dir(), reloadFailedFile)); err == nil {
		if digest, reason, _ := strings.Cut(string(b), "\n"); digest == want {
			return 0, ocf.Fail(ocf.Degraded, "config edited, reload refused: %s", strings.TrimSpace(reason))
		}
	}
	rsc := r.ResourceName()
	if rsc == "" {
		rsc = "RSC"
	}
	return 0, ocf.Fail(ocf.Degraded, "config edited, not applied: crm_resource -r %s -p %s -v %s, or bridgectl apply -c %s",
		rsc, ParamRevision, want, path)
}

// validate checks the file, the namespace, and that every parent interface
// exists on this node.
func (b *bridge) validate(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	cfg, _, err := node.LoadConfig(r.Param(node.ParamConfig))
	if err != nil {
		return 0, err
	}
	n, err := b.open(node.Options(r))
	if err != nil {
		if node.Absent(err) {
			return 0, openFailure(err)
		}
		r.Log.Warningf("parent interfaces not checked: %v", err)
		return ocf.Success, nil
	}
	defer n.Close()
	if _, err := n.Observe(cfg, false); err != nil {
		if parents := missingParents(err); len(parents) > 0 {
			return 0, ocf.Fail(ocf.ErrInstalled, "parent interface %s missing on this node", strings.Join(parents, ", "))
		}
		// Foreign links in the way, an MTU the trunk cannot carry: states
		// of the node that start reports; the configuration is valid.
		r.Log.Warningf("start would fail here: %s", node.Summarize(err, reasonParts))
	}
	return ocf.Success, nil
}

func links(n int) string {
	if n == 1 {
		return "1 link"
	}
	return fmt.Sprintf("%d links", n)
}

// short is the digest prefix the agents show: enough to tell files apart.
func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
