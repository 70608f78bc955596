package kerneltest

import (
	"fmt"
	"maps"

	"golang.org/x/sys/unix"

	"github.com/qinqbridge/qinqbridge/bridgectl/kernel"
	"github.com/qinqbridge/qinqbridge/bridgectl/plan"
)

// offloads are the devices' feature flags as bridgectl's kernel.Offloads.
type offloads struct{ k *Kernel }

// Offloads is the devices' feature flags (ethtool -k) as bridgectl's
// kernel.Offloads. A device has the features SetFeatures gave it.
func (k *Kernel) Offloads() kernel.Offloads { return offloads{k} }

func (o offloads) Read(dev string, names []string) (map[string]plan.Feature, error) {
	k := o.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("ethtool get"); err != nil {
		return nil, err
	}
	l := k.byName(dev)
	if l == nil {
		return nil, unix.ENODEV
	}
	out := map[string]plan.Feature{}
	for _, n := range names {
		if f, ok := l.features[n]; ok {
			out[n] = f
		}
	}
	return out, nil
}

// Set changes a feature as the kernel does: a fixed one stays as it is,
// and that is no error (the ioctl's positive answer).
func (o offloads) Set(dev, name string, on bool) error {
	k := o.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail("ethtool set"); err != nil {
		return err
	}
	l := k.byName(dev)
	if l == nil {
		return unix.ENODEV
	}
	f, ok := l.features[name]
	if !ok {
		return fmt.Errorf("%s: no feature %s", dev, name)
	}
	if !f.Fixed {
		l.features[name] = plan.Feature{On: on}
		k.logf("ethtool %s %s %v", dev, name, on)
	}
	return nil
}

// SetFeatures gives the link called name these features (an admin's
// ethtool -K, or what its driver has).
func (k *Kernel) SetFeatures(name string, fs map[string]plan.Feature) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.mustLink(name)
	if l.features == nil {
		l.features = map[string]plan.Feature{}
	}
	maps.Copy(l.features, fs)
}

// Features returns the features of the link called name.
func (k *Kernel) Features(name string) map[string]plan.Feature {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.mustLink(name).features)
}
