package main

import (
	"fmt"
	"net"
	"os"
)

// notifyReady tells systemd that the sensor is up (Type=notify: READY=1),
// once the capture sockets, the metrics listener and the outputs are open
// and privileges are dropped, so that `systemctl start` returns only then
// and reports a failed start as one. Without NOTIFY_SOCKET (not started by
// systemd, or Type=simple) it does nothing. The protocol is one datagram
// on a unix socket (sd_notify(3)); Go reads a leading "@" as the abstract
// namespace, as systemd means it.
func notifyReady() error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("systemd notify %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1\nSTATUS=capturing\n")); err != nil {
		return fmt.Errorf("systemd notify %s: %w", path, err)
	}
	return nil
}
