package emit

import "encoding/binary"

// batchOf encodes frames as a batch of Frame Streams data frames.
func batchOf(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}
