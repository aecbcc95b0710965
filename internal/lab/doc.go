// Package lab builds throwaway network labs for tests: network namespaces
// joined by a veth pair, documentation and ULA addresses that never leave
// the namespaces, a real BIND writing its own dnstap, tcpdump captures, and
// dig/kdig/nsupdate clients.
//
// Everything a Lab creates is torn down through t.Cleanup, in reverse order
// of creation, whether the test passes or fails: processes are stopped first,
// then the namespaces (and with them the veths) are deleted. Names carry the
// test process's pid, so parallel test binaries on one machine do not collide.
//
// The package needs root and the Debian tools named in each helper; helpers
// skip through testenv (a failure when SENSOR_E2E=require) when one is
// missing. It knows nothing about the sensor itself.
package lab
