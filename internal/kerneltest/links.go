package kerneltest

// linkTable is the namespace's links. Owned by the links half (the fake of
// bridgectl/kernel.Links); placeholder until it is written.
type linkTable struct{}

func (t *linkTable) init() {}
