package kerneltest

// tcTable is the namespace's tc objects. Owned by the tc half (the fake of
// tcguard's TC seam); placeholder until it is written.
type tcTable struct{}

func (t *tcTable) init() {}

// deviceGone drops the tc objects of a deleted device.
func (t *tcTable) deviceGone(ifindex int) {}
