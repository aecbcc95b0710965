package emit

import "time"

// Counted makes an Output of a BatchWriter that keeps no accounts of its own
// (a FileWriter or TextWriter on stdout): a batch written without error is
// delivered, a failed one dropped as write_error. Close closes w.
func Counted(w BatchWriter) Output { return &countedOutput{w: w} }

type countedOutput struct {
	w     BatchWriter
	stats OutputStats
}

func (c *countedOutput) WriteBatch(b []byte) error {
	n := CountFrames(b)
	if err := c.w.WriteBatch(b); err != nil {
		c.stats.AddDropped(DropWriteError, n)
		c.stats.SetState(StateDown)
		c.stats.SetError(err, time.Now())
		return err
	}
	c.stats.AddDelivered(n)
	c.stats.SetState(StateUp)
	return nil
}

func (c *countedOutput) Flush() error {
	err := c.w.Flush()
	c.stats.SetError(err, time.Now())
	return err
}

func (c *countedOutput) Close() error {
	err := c.w.Close()
	c.stats.SetError(err, time.Now())
	c.stats.SetState(StateClosed)
	return err
}

func (c *countedOutput) Stats() *OutputStats { return &c.stats }

// Queued returns the frames handed to the output and not yet delivered,
// spooled or dropped: those waiting in its queue. Read while the output
// runs, the counters are not one snapshot, so it is clamped at zero.
func (s *OutputStats) Queued() uint64 {
	enc := s.Encoded()
	done := s.Delivered() + s.Spooled() + s.Dropped()
	if done >= enc {
		return 0
	}
	return enc - done
}
