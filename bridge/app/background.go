package app

// background is a goroutine that runs until halted: the savers and checkers of learn mode and of
// the lifecycle tracker. The zero value runs nothing.
type background struct {
	stop chan struct{} // closed by halt
	done chan struct{} // closed when the goroutine has returned
}

// run starts loop on a goroutine of its own; loop returns once stop is closed.
func (b *background) run(loop func(stop <-chan struct{})) {
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.done)
		loop(b.stop)
	}()
}

// halt stops the goroutine and waits until it has returned. It does nothing when none runs, so
// it may be called again.
func (b *background) halt() {
	if b.stop != nil {
		close(b.stop)
		<-b.done
		b.stop = nil
	}
}
