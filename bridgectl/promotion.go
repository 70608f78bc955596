package bridgectl

import (
	"fmt"

	"github.com/qinqbridge/qinqbridge/bridgectl/config"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// Promotion scores. Any positive score makes an instance eligible; the
// highest is promoted.
const (
	PromotionScoreMax    = 100
	PromotionScoreNoneOK = 1 // nothing can forward here (or nothing applied): still eligible
)

// PromotionScore rates a node for the guard of group (config's name; ""
// is the default group): the tcguard agent sets it as that guard's
// promotion score, and the metrics report it. It is 1 + 99 × the share of
// the group's applied translations that can forward here — every link
// present (ours) and administratively up, both parent interfaces up with
// carrier. So the node that forwards the most of a group's translations
// is promoted for it, a pulled trunk cable moves the promotion to a node
// whose trunks are fine, and some node is always promoted even when both
// are impaired. A group without translations scores the maximum; applied
// is nil when nothing is applied. It reads only links (st), no counter and
// no tc object.
func PromotionScore(applied *config.Config, st *plan.State, group string) (int, string) {
	if applied == nil {
		return PromotionScoreNoneOK, "no bridge applied here"
	}
	if group == "" {
		group = config.DefaultGroup
	}
	ok, total := 0, 0
	for i := range applied.Translations {
		if applied.Translations[i].Group != group {
			continue
		}
		total++
		if forwards(st, &applied.Translations[i], applied.Datapath) {
			ok++
		}
	}
	if total == 0 {
		return PromotionScoreMax, "no translations"
	}
	return PromotionScoreNoneOK + (PromotionScoreMax-PromotionScoreNoneOK)*ok/total, fmt.Sprintf("%d of %d translations of group %s can forward", ok, total, group)
}

func forwards(st *plan.State, t *config.Translation, datapath config.Datapath) bool {
	for _, e := range []*config.End{&t.A, &t.B} {
		if p := st.ByName[e.Parent]; p == nil || !p.Up || !p.OperUp {
			return false
		}
		if datapath == config.TCDatapath {
			continue // no link: the bridge agent's monitor checks its filters
		}
		for _, name := range e.Links() {
			if o := st.ByName[name]; o == nil || !o.Owned() || !o.Up {
				return false
			}
		}
	}
	if datapath == config.TCDatapath {
		return true
	}
	o := st.ByName[t.Bridge]
	return o != nil && o.Owned() && o.Up
}
