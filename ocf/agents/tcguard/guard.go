package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/qinqbridge/qinqbridge/bridgectl"
	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/internal/defaults"
	"github.com/qinqbridge/qinqbridge/ocf"
	"github.com/qinqbridge/qinqbridge/ocf/agents/internal/node"
	"github.com/qinqbridge/qinqbridge/tcguard"
)

// guard holds the agent's actions; open reaches the kernel and score the
// CIB (fakes in tests).
type guard struct {
	open   node.Opener
	score  scorer
	bounce bouncer    // nil: never flush the switches
	later  restorer   // nil: a flush holds the demote
	files  stateFiles // flush markers; nil: the state directory
	clock  clock      // of the flush hold; nil: the real one
}

// scorer sets and deletes this instance's promotion score.
type scorer interface {
	Set(ctx context.Context, r *ocf.Request, score int) error
	Delete(ctx context.Context, r *ocf.Request) error
}

// crmScore is the real scorer: crm_attribute --promotion.
type crmScore struct{}

func (crmScore) Set(ctx context.Context, r *ocf.Request, n int) error {
	return r.SetPromotionScore(ctx, n)
}
func (crmScore) Delete(ctx context.Context, r *ocf.Request) error { return r.DeletePromotionScore(ctx) }

// startedFile, in the namespace's state directory, is the "running"
// marker: written by start once the guard is blocked, removed by stop once
// it is blocked again. It holds the block index start guarded, which
// promote, demote, stop and monitor use, so promote reads no configuration.
const startedFile = "ocf-tcguard.started"

// instanceFile is an instance's own state file: base for the default
// group's guard, base.GROUP for another group's (one instance per group
// runs on a node).
func instanceFile(base, group string) string {
	if group == config.DefaultGroup {
		return base
	}
	return base + "." + group
}

// groupOf is the group the instance guards: its group parameter, the
// default group if empty.
func groupOf(r *ocf.Request) string {
	if g := r.Param(ParamGroup); g != "" {
		return g
	}
	return config.DefaultGroup
}

func readStarted(dir, group string) (block uint32, started bool, err error) {
	b, err := node.ReadFile(filepath.Join(dir, instanceFile(startedFile, group)))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "block ")
	n, perr := strconv.ParseUint(v, 10, 32)
	if !ok || perr != nil || n == 0 {
		return 0, true, fmt.Errorf("%s: not \"block N\": %q", filepath.Join(dir, instanceFile(startedFile, group)), b)
	}
	return uint32(n), true, nil
}

func writeStarted(dir, group string, block uint32) error {
	return node.WriteFile(filepath.Join(dir, instanceFile(startedFile, group)), fmt.Appendf(nil, "block %d\n", block))
}

// startBlock is the block start guards: the one of the configuration the
// bridge applied on this node, whose ports are bound to it, else the
// file's. Not the file first: an edited, not yet applied [guard] block
// would have the guard block and open a block no port is bound to.
func (a *guard) startBlock(r *ocf.Request, n node.Node) (uint32, string, error) {
	group := groupOf(r)
	applied, err := n.Applied()
	if err == nil && applied.Group(group) != nil {
		if err := checkGroup(r, applied); err != nil {
			return 0, "", err
		}
		return applied.BlockOf(group), "the applied configuration", nil
	}
	if !errors.Is(err, bridgectl.ErrNotApplied) {
		r.Log.Warningf("applied configuration unreadable, using the file's block: %v", err)
	}
	path := r.Param(node.ParamConfig)
	cfg, _, err := node.LoadConfig(path)
	if err != nil {
		return 0, "", err
	}
	if err := checkGroup(r, cfg); err != nil {
		return 0, "", err
	}
	return cfg.BlockOf(group), path, nil
}

// currentBlock is the block of a running instance: the one start recorded;
// for an instance not started, the applied configuration's, the file's,
// or the default, in that order — stop and monitor must work whatever
// state the configuration is in.
func (a *guard) currentBlock(r *ocf.Request, n node.Node) (block uint32, started bool) {
	group := groupOf(r)
	block, started, err := readStarted(n.Dir(), group)
	if err != nil {
		r.Log.Warningf("%v", err)
	}
	if block != 0 {
		return block, started
	}
	if applied, err := n.Applied(); err == nil && applied.Group(group) != nil {
		return applied.BlockOf(group), started
	}
	if cfg, _, err := config.Load(r.Param(node.ParamConfig)); err == nil && cfg.Group(group) != nil {
		return cfg.BlockOf(group), started
	}
	return defaults.Block, started
}

// openNode opens the namespace for start and validate-all, mapping a
// missing namespace to ErrInstalled and a bad name to ErrConfigured.
func (a *guard) openNode(r *ocf.Request) (node.Node, error) {
	n, err := a.open(node.Options(r))
	switch {
	case errors.Is(err, node.ErrBadNetNS):
		return nil, ocf.Fail(ocf.ErrConfigured, "%v", err)
	case errors.Is(err, node.ErrNoNetNS):
		return nil, ocf.Fail(ocf.ErrInstalled, "%v", err)
	}
	return n, err
}

func (a *guard) start(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	n, err := a.openNode(r)
	if err != nil {
		return 0, err
	}
	defer n.Close()
	if err := a.restoreTrunks(r, n, true); err != nil {
		r.Log.Errorf("%v", err)
	}
	block, from, err := a.startBlock(r, n)
	if err != nil {
		return 0, err
	}
	if err := a.block(r, n, block); err != nil {
		return 0, err
	}
	snap, err := a.hold(r, n, block)
	if err != nil {
		return 0, err
	}
	if err := writeStarted(n.Dir(), groupOf(r), block); err != nil {
		return 0, fmt.Errorf("guard blocked, but the started marker: %w", err)
	}
	r.Log.Infof("started: guard of group %s, block %d, blocked (block of %s)", groupOf(r), block, from)
	a.setScore(ctx, r, n, snap, true)
	return ocf.Success, nil
}

// block blocks the guard of one block.
func (a *guard) block(r *ocf.Request, n node.Node, block uint32) error {
	g, err := n.Guard(block, groupOf(r))
	if err != nil {
		return ocf.Fail(ocf.ErrGeneric, "cannot block the guard of block %d: %v", block, err)
	}
	defer g.Close()
	if err := g.Block(); err != nil {
		return ocf.Fail(ocf.ErrGeneric, "cannot block the guard of block %d: %w", block, err)
	}
	return nil
}

// hold makes every expected port bound (or down) and fails when the guard
// still cannot hold the node. It returns what it read of the node.
func (a *guard) hold(r *ocf.Request, n node.Node, block uint32) (snapshot, error) {
	snap, err := readSnapshot(n, groupOf(r))
	if err != nil {
		return snapshot{}, ocf.Fail(ocf.ErrGeneric, "guard of block %d: %v", block, err)
	}
	g, err := snap.guard(n, block)
	if err != nil {
		return snap, ocf.Fail(ocf.ErrGeneric, "guard of block %d: %v", block, err)
	}
	defer g.Close()
	h, err := a.holdPorts(r, n, g, block, snap)
	if err == nil {
		err = h.problem(block)
	}
	if err != nil {
		return snap, ocf.Fail(ocf.ErrGeneric, "guard of block %d cannot hold this node: %s", block, node.Summarize(err, 2))
	}
	return snap, nil
}

// isolate sets every expected port down (in the tc datapath: deletes the
// translation filters): the fail-closed way out when the guard's block
// cannot be used (somebody else's filter in it), without touching anything
// that is not ours.
func (a *guard) isolate(r *ocf.Request, n node.Node, why error) error {
	snap, err := readSnapshot(n, groupOf(r))
	if err != nil {
		return err
	}
	if snap.trunks() {
		if err := n.RemoveFilters(); err != nil {
			return err
		}
		r.Log.Errorf("%v: deleted the translation filters instead", why)
		return nil
	}
	ports := snap.expectedPorts()
	if err := n.SetDown(ports); err != nil {
		return err
	}
	r.Log.Errorf("%v: set the %d bridge ports down instead (%s)", why, len(ports), portList(snap.links, ports))
	return nil
}

// stop blocks (fail closed), then forgets it was started. A guard it
// cannot block makes it fail: Pacemaker then fences the node, which is the
// only way left to stop it from forwarding.
func (a *guard) stop(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	opts := node.Options(r)
	defer func() {
		if err := a.score.Delete(ctx, r); err != nil {
			r.Log.Debugf("promotion score not deleted: %v", err)
		}
		if err := node.RemoveState(opts, instanceFile(scoreFile, groupOf(r))); err != nil {
			r.Log.Debugf("%v", err)
		}
	}()
	n, err := a.open(opts)
	if node.Absent(err) { // no namespace: no port to guard
		if err := node.RemoveState(opts, instanceFile(startedFile, groupOf(r))); err != nil {
			return 0, err
		}
		return ocf.Success, nil
	}
	if err != nil {
		return 0, err
	}
	defer n.Close()
	block, started := a.currentBlock(r, n)
	blocks := []uint32{block}
	// Ports bound to another block than the one started with (the bridge
	// re-applied with a new block for the group) are closed too.
	if applied, err := n.Applied(); err == nil && applied.Group(groupOf(r)) != nil && applied.BlockOf(groupOf(r)) != block {
		blocks = append(blocks, applied.BlockOf(groupOf(r)))
	}
	for _, b := range blocks {
		err := a.block(r, n, b)
		if errors.Is(err, tcguard.ErrForeignBlock) {
			// Never touch their block, never fail the stop (fencing):
			// our ports go down instead.
			err = a.isolate(r, n, err)
		}
		if err != nil {
			return 0, err
		}
	}
	if _, err := a.hold(r, n, block); err != nil {
		// Whatever could not be bound is down; a foreign device on the
		// block is not ours to stop.
		r.Log.Warningf("%v", err)
	}
	if err := node.RemoveFile(filepath.Join(n.Dir(), instanceFile(startedFile, groupOf(r)))); err != nil {
		return 0, fmt.Errorf("guard blocked, but the started marker: %w", err)
	}
	// A stopped node's trunks are up, as the operator configured them,
	// once the demote's flush is over: its restorer (or, after a kill,
	// the next action here) brings them up. Ending the hold now would
	// undo it where it matters: on node standby Pacemaker stops the
	// demoted instance before it promotes another, and the LAGs of a
	// pass-through group would take this node's members back first. A
	// renegotiation kick interrupted by a kill is over now.
	if err := a.restoreKicked(r, n); err != nil {
		r.Log.Errorf("%v", err)
	}
	if err := a.restoreTrunks(r, n, false); err != nil {
		r.Log.Errorf("%v", err)
	}
	if started {
		r.Log.Infof("stopped: guard of block %d blocked", block)
	}
	return ocf.Success, nil
}

// promote opens the guard: one tc request, whatever the number of
// translations. It reads the block from the started marker and nothing
// else — no configuration, no link.
func (a *guard) promote(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	n, err := a.open(node.Options(r))
	if err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "cannot promote: %v", err)
	}
	defer n.Close()
	block, started, err := readStarted(n.Dir(), groupOf(r))
	if err != nil {
		return 0, err
	}
	if !started {
		return 0, ocf.Fail(ocf.ErrGeneric, "cannot promote: not started on this node")
	}
	if err := a.restoreTrunks(r, n, true); err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "cannot promote: %v", err)
	}
	g, err := n.Guard(block, groupOf(r))
	if err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "cannot open the guard of block %d: %v", block, err)
	}
	defer g.Close()
	kicked, err := n.Unblock(g, groupOf(r))
	if err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "cannot open the guard of block %d: %v", block, err)
	}
	if len(kicked) > 0 {
		r.Log.Infof("pass-through trunks %s taken down and up: the switches renegotiate LACP", strings.Join(kicked, ", "))
	}
	r.Log.Infof("promoted: guard of block %d open", block)
	return ocf.Success, nil
}

// demote blocks, then flushes the switches (switch_flush_ms). Everything
// after the block is part of the switchover gap, so it does only that.
func (a *guard) demote(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	n, err := a.open(node.Options(r))
	if node.Absent(err) {
		r.Log.Warningf("nothing to demote: %v", err)
		return ocf.Success, nil
	}
	if err != nil {
		return 0, err
	}
	defer n.Close()
	block, started := a.currentBlock(r, n)
	var trunks []string
	var hold int
	if started {
		trunks, hold = a.flushTrunks(r, n)
	}
	if err := a.block(r, n, block); err != nil {
		return 0, err
	}
	if !started {
		r.Log.Warningf("demoted an instance that was not started: guard of block %d blocked", block)
		return ocf.Success, nil
	}
	a.flushSwitches(r, n, trunks, hold)
	r.Log.Infof("demoted: guard of block %d blocked", block)
	return ocf.Success, nil
}

// monitor: see the table in the package documentation.
func (a *guard) monitor(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	n, err := a.open(node.Options(r))
	if node.Absent(err) {
		return r.NotRunning("%v", err)
	}
	if err != nil {
		return 0, err
	}
	defer n.Close()
	if err := a.restoreTrunks(r, n, false); err != nil {
		r.Log.Errorf("%v", err)
	}
	block, started := a.currentBlock(r, n)
	snap, err := readSnapshot(n, groupOf(r))
	if err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "guard of block %d: %v", block, err)
	}
	g, err := snap.guard(n, block)
	if err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "guard of block %d: %v", block, err)
	}
	defer g.Close()
	if !started {
		// A stopped instance changes nothing: a leak fails the probe, and
		// Pacemaker's stop closes it.
		s, err := snap.status(g)
		if err != nil {
			return 0, ocf.Fail(ocf.ErrGeneric, "guard of block %d: %v", block, err)
		}
		if s.State == tcguard.Opened || s.State == tcguard.Unguarded {
			return 0, ocf.Fail(ocf.ErrGeneric, "not started, yet the guard of block %d is %s: %d ports forward (%d not bound)", block, s.State, len(s.Bound), len(s.Unbound)+len(s.Foreign))
		}
		return r.NotRunning("not started")
	}
	h, err := a.holdPorts(r, n, g, block, snap)
	if err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "guard of block %d: %v", block, err)
	}
	if err := h.problem(block); err != nil {
		return 0, ocf.Fail(ocf.ErrGeneric, "guard of block %d cannot hold this node: %s", block, node.Summarize(err, 2))
	}
	// Ports holdPorts could not bind are down: they forward nothing.
	s := h.status
	s.State = tcguard.StateOf(s.Marker, s.Dropping, s.Reach, false)

	a.setScore(ctx, r, n, snap, false)
	if snap.applied != nil && snap.applied.Group(snap.group) != nil && snap.applied.BlockOf(snap.group) != block {
		return 0, ocf.Fail(ocf.ErrGeneric, "guards block %d but the bridge here binds group %s to block %d: restart the guard", block, snap.group, snap.applied.BlockOf(snap.group))
	}
	switch s.State {
	case tcguard.Blocked:
		return ocf.Success, nil
	case tcguard.Opened:
		return ocf.RunningPromoted, nil
	case tcguard.Interrupted:
		return 0, ocf.Fail(ocf.FailedPromoted, "promoted, yet the guard of block %d drops every frame (promote or demote interrupted, or block re-created)", block)
	case tcguard.Unguarded:
		return 0, ocf.Fail(ocf.ErrGeneric, "unpromoted, yet the guard of block %d is open (guard filter removed or action set to pass): %d ports may forward, traffic may loop", block, len(s.Bound))
	}
	return 0, fmt.Errorf("guard of block %d: unknown state %v", block, s.State)
}

func (a *guard) notify(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	r.Log.Debugf("notify %s-%s: promoted on %v", r.Notify.Type, r.Notify.Operation, r.Notify.Promoted.Unames)
	return ocf.Success, nil
}

func (a *guard) validate(ctx context.Context, r *ocf.Request) (ocf.Status, error) {
	cfg, _, err := node.LoadConfig(r.Param(node.ParamConfig))
	if err != nil {
		return 0, err
	}
	if err := checkGroup(r, cfg); err != nil {
		return 0, err
	}
	switch err := node.CheckNetNS(r.Param(node.ParamNetNS)); {
	case errors.Is(err, node.ErrBadNetNS):
		return 0, ocf.Fail(ocf.ErrConfigured, "%v", err)
	case err != nil:
		return 0, ocf.Fail(ocf.ErrInstalled, "%v", err)
	}
	return ocf.Success, nil
}

// checkGroup refuses (OCF_ERR_CONFIGURED) a group the file does not have,
// and a switch flush for a group whose trunks carry another group's
// translations: taking them down would cut those on this node. (A file
// setting switch_flush_ms so does not validate; the parameter can.)
func checkGroup(r *ocf.Request, cfg *config.Config) error {
	group := groupOf(r)
	if cfg.Group(group) == nil {
		return ocf.Fail(ocf.ErrConfigured, "%s has no translation group %q", cfg.File, group)
	}
	hold, err := switchFlush(r, cfg)
	if err != nil {
		return ocf.Fail(ocf.ErrConfigured, "%v", err)
	}
	if shared := cfg.SharedTrunks(group); hold > 0 && len(shared) > 0 {
		return ocf.Fail(ocf.ErrConfigured, "%s > 0 for group %s, whose trunks %s carry other groups' translations too: a flush would cut them; set it to 0 (or give the group trunks of its own)",
			ParamSwitchFlush, group, strings.Join(shared, ", "))
	}
	return nil
}

// switchFlush is the instance's switch flush, in ms: the parameter where
// the cluster sets it, else the switch_flush_ms of its group in cfg (the
// file's [[group]] or [guard] key; a nil cfg has none), else the
// parameter's default, 0.
func switchFlush(r *ocf.Request, cfg *config.Config) (int, error) {
	if !r.ParamGiven(ParamSwitchFlush) && cfg != nil {
		if g := cfg.Group(groupOf(r)); g != nil && g.SwitchFlush.Set {
			return g.SwitchFlush.Ms, nil
		}
	}
	return r.ParamInt(ParamSwitchFlush)
}

// scoreFile, in the state directory, holds the promotion score last set
// ("score N"), so that a monitor runs crm_attribute — a process and a
// round trip to the attribute manager, most of a monitor's time — only
// when the score changes. Pacemaker runs the demoted node's first monitor
// while the other node waits for its promote whenever load throttles it to
// one action at a time, so that time would be part of every switchover.
// Start and probes always set the score: they follow whatever clears a
// node's transient attributes (Pacemaker restarted, the node left the
// cluster and rejoined, a resource refresh). A monitor also sets it when
// the file is older than scoreRefresh, in case it was deleted by hand.
const scoreFile = "ocf-tcguard.score"

const scoreRefresh = 5 * time.Minute

// lastScore is the score scoreFile records, if it is recent.
func lastScore(dir, group string) (int, bool) {
	path := filepath.Join(dir, instanceFile(scoreFile, group))
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, false
	}
	if age := time.Since(fi.ModTime()); age < 0 || age >= scoreRefresh {
		return 0, false
	}
	b, err := node.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "score ")
	n, err := strconv.Atoi(v)
	return n, ok && err == nil
}

// setScore computes and sets the promotion score; a recurring monitor
// skips crm_attribute when the score is the one it set last (scoreFile),
// and while a switch flush has the trunks down (that says nothing about
// them). A failure (no cluster: ocf-tester, crm_resource --force-*) never
// fails the action; start warns about it, monitors only say it in debug
// logs.
func (a *guard) setScore(ctx context.Context, r *ocf.Request, n node.Node, snap snapshot, start bool) {
	if !start && flushing(n) {
		r.Log.Debugf("promotion score kept: trunks down for a switch flush")
		return
	}
	score, why := bridgectl.PromotionScore(snap.applied, snap.links, snap.group)
	if last, ok := lastScore(n.Dir(), snap.group); ok && last == score && !start && !r.IsProbe() {
		r.Log.Debugf("promotion score %d unchanged: %s", score, why)
		return
	}
	path := filepath.Join(n.Dir(), instanceFile(scoreFile, snap.group))
	err := a.score.Set(ctx, r, score)
	switch {
	case err != nil && start:
		r.Log.Warningf("promotion score %d (%s) not set: %v", score, why, err)
	case err != nil:
		r.Log.Debugf("promotion score %d (%s) not set: %v", score, why, err)
	default:
		r.Log.Debugf("promotion score %d: %s", score, why)
	}
	if err == nil {
		err = node.WriteFile(path, fmt.Appendf(nil, "score %d\n", score))
	} else {
		err = node.RemoveFile(path)
	}
	if err != nil {
		r.Log.Debugf("%v", err)
	}
}
