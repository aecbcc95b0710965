// Package lab builds throwaway network labs for tests, with real servers:
//
//   - New: a client and a server namespace joined by one veth pair.
//   - NewSPAN: client, authoritative and resolver hosts on a Linux bridge
//     whose every port is mirrored (tc mirred) to a SPAN port in a monitor
//     namespace, as a sensor on a switch's mirror port sees traffic.
//   - NewMirror: a client and a server namespace joined by one veth pair
//     whose both directions (tc clsact ingress and egress) are mirrored to
//     a SPAN port in a monitor namespace; each side holds one server and
//     the other server's client, so every conversation crosses the link.
//   - StartNamed: BIND, authoritative, writing its own dnstap file.
//   - StartUnbound: Unbound forwarding to BIND, its dnstap written by
//     fstrm_capture.
//   - StartCapture (tcpdump), Dig, Kdig, NSUpdate in any namespace.
//   - For the real-world captures: StartRealNamed (a primary with a
//     dynamic 0x20 zone, an inline-signed zone and a 60 KB TXT, or a
//     secondary with NOTIFY and zone transfers), StartRealUnbound (extra
//     options such as tcp-upstream), StartDumpcap (pcapng),
//     StartCaptureArgs (tcpdump with any arguments, e.g. -i any) and
//     AddResolverAddrs.
//
// Addresses come from the documentation ranges and a ULA prefix, exist only
// inside the namespaces, and no route leads out. Every veth has its
// checksum and segmentation offloads off, MAC addresses are fixed and
// neighbours static, so captures look like wire traffic and are
// reproducible.
//
// Everything a lab creates is torn down through t.Cleanup, in reverse order
// of creation, whether the test passes or fails: processes are stopped first,
// then the namespaces (and with them the veths) are deleted. Names carry the
// test process's pid, so parallel test binaries on one machine do not
// collide, and namespaces left by a killed test binary are swept.
//
// The package needs root and the Debian tools named in each helper; helpers
// skip through testenv (a failure when SENSOR_E2E=require) when one is
// missing. It knows nothing about the sensor itself.
package lab
