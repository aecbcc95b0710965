// Package bounded is the one table every traffic-keyed lookup in the sensor
// is built on: pending queries (emit), TCP flows and IP fragment sets
// (reassembly). It owns what those tables must agree on and what is easy to
// get wrong once per copy:
//
//   - a hard size limit, reserved up front, so that nothing allocates after
//     setup and a flood evicts instead of growing;
//   - an open-addressing index (linear probing, backward-shift deletion: no
//     tombstones, no rehashing under churn);
//   - an oldest-first list for idle expiry by capture time and for evicting
//     the oldest entry when the table is full;
//   - the hash: AES-based (hash/maphash, the runtime's map hash) with a
//     random seed per table, so that a host on the mirrored network cannot
//     choose keys offline that share one probe run. With a fixed hash, 40,000
//     chosen queries cost ~140× the CPU of ordinary ones.
//
// It does not own what the tables disagree on: which counter an eviction or
// expiry increments, what must be done with an entry before it goes (TCP
// delivers the messages a flow still holds), and how a key is compared when
// its words are not the whole story. Callers do those around the calls.
//
// It imports only the standard library, so that every package can use it.
package bounded
