package emit

import "time"

// Pending returns the queries waiting for their response now. It belongs
// to the Pipeline's goroutine: a worker copies it into a gauge now and
// then, and metrics read the copy.
func (p *Pipeline) Pending() int { return p.pairs.t.Len() }

// Depth returns the full batches waiting for the writer; safe from any
// goroutine.
func (q *Queue) Depth() int { return len(q.full) }

// Capacity returns how many full batches may wait before batches are
// dropped (QueueConfig.Batches).
func (q *Queue) Capacity() int { return cap(q.full) }

// Heartbeat returns when the writer goroutine last turned: wrote a batch
// or woke on its flush ticker. A writer stuck in its output for longer
// than a few flush intervals is stuck for good, which the health check
// reports.
func (q *Queue) Heartbeat() time.Time { return time.Unix(0, q.beat.Load()) }
