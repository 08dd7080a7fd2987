package sysvis

import (
	"net/netip"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// Open reports that a process uses a socket with the Event's endpoints.
	Open EventKind = iota + 1
	// Close reports that the socket [Event].Socket is gone: entries made
	// from it are kept for [TableOptions.Keep] more.
	Close
)

// Event is one observation of a [Backend].
type Event struct {
	Kind EventKind
	// Time is when the socket was seen (wall clock).
	Time time.Time
	// Socket identifies the socket while it exists (a socket cookie or a
	// kernel address, per backend), to match Close with Open.
	Socket uint64
	// Protocol is 6 (TCP) or 17 (UDP).
	Protocol uint8
	// Local is the local end. Its address is unspecified (0.0.0.0 or ::)
	// when the socket is not bound to one address.
	Local netip.AddrPort
	// Remote is the peer; the zero value for a bound or listening socket,
	// which owns whatever reaches Local.
	Remote netip.AddrPort
	// Process owns the socket.
	Process flows.Process
	// Hook names what saw the socket: a BPF hook ("inet_sock_set_state",
	// "sock_send_length", "sendmsg", "recvmsg", "post_bind",
	// "sock_release", "tcp_connect", "inet_csk_accept", "udp_sendmsg")
	// or "poll". For logs and tests.
	Hook string
}

// Sink receives a backend's events. [Table] is the Sink of the command.
type Sink interface {
	// Add records an event. Events of one socket arrive in order.
	Add(ev Event)
	// CaughtUp reports that every socket event that happened before t has
	// been given to Add.
	CaughtUp(t time.Time)
}
