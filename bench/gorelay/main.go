// Command gorelay is the benchmark's floor for a Go proxy: the least work a
// proxy with one goroutine per client, on Go's network poller, can do for
// pgbench. Each client gets its own server connection (no pooling, no
// parsing of statements, no routing); after start-up the session loop is
// the same as pgshard's: read what the client sent, write it to the server,
// read the server until it is ready for the next query, write that to the
// client. The difference between gorelay and pgshard in one bench/run.sh
// run is what pgshard's own work costs; the difference between gorelay and
// PgBouncer is what the Go runtime costs. It is an instrument, not a proxy:
// it understands only what pgbench sends (no Flush without Sync, no COPY).
//
//	go run ./bench/gorelay -listen 127.0.0.1:6434 -server 127.0.0.1:5432
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

const (
	sslRequest    = 80877103
	gssencRequest = 80877104
	maxStartup    = 10000
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6434", "address to accept clients on")
	server := flag.String("server", "127.0.0.1:5432", "PostgreSQL server to relay to")
	flag.Parse()
	log.SetPrefix("gorelay: ")
	log.SetFlags(0)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The process is the sessions' owner: SIGTERM ends it and them.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Fatal(err)
		}
		go func() {
			if err := relay(c, *server); err != nil && !errors.Is(err, io.EOF) {
				log.Print(err)
			}
		}()
	}
}

// relay serves one client until either side closes.
func relay(client net.Conn, addr string) error {
	defer client.Close()
	cr := bufio.NewReader(client)
	startup, err := readStartup(cr, client)
	if err != nil {
		return fmt.Errorf("client start-up: %w", err)
	}
	server, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer server.Close()
	if _, err := server.Write(startup); err != nil {
		return err
	}
	sr := bufio.NewReader(server)
	if err := authenticate(cr, client, sr, server); err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	// Reads of at least the bufio size go straight to the socket once the
	// start-up leftovers (none, with pgbench) are consumed.
	buf := make([]byte, 64<<10)
	var fromClient, fromServer frames
	for {
		n, err := cr.Read(buf)
		if err != nil {
			return err
		}
		waits, quit := 0, false
		fromClient.feed(buf[:n], func(t byte) {
			switch t {
			case 'Q', 'S':
				waits++
			case 'X':
				quit = true
			}
		})
		if _, err := server.Write(buf[:n]); err != nil || quit {
			return err
		}
		for waits > 0 {
			n, err := sr.Read(buf)
			if err != nil {
				return err
			}
			fromServer.feed(buf[:n], func(t byte) {
				if t == 'Z' {
					waits--
				}
			})
			if _, err := client.Write(buf[:n]); err != nil {
				return err
			}
		}
	}
}

// readStartup answers SSL and GSS encryption requests with 'N' and returns
// the client's StartupMessage (or CancelRequest) as received.
func readStartup(r *bufio.Reader, w io.Writer) ([]byte, error) {
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n < 8 || n > maxStartup {
			return nil, fmt.Errorf("start-up packet of %d bytes", n)
		}
		if code := binary.BigEndian.Uint32(hdr[4:]); n == 8 && (code == sslRequest || code == gssencRequest) {
			if _, err := w.Write([]byte{'N'}); err != nil {
				return nil, err
			}
			continue
		}
		msg := make([]byte, n)
		copy(msg, hdr[:])
		_, err := io.ReadFull(r, msg[8:])
		return msg, err
	}
}

// authenticate relays the exchange from the server's first Authentication
// message to its first ReadyForQuery, message by message, handing the turn
// to the client where the server asks for a password or a SASL step.
func authenticate(cr *bufio.Reader, client net.Conn, sr *bufio.Reader, server net.Conn) error {
	for {
		msg, err := readMessage(sr)
		if err != nil {
			return err
		}
		if _, err := client.Write(msg); err != nil {
			return err
		}
		switch msg[0] {
		case 'Z':
			return nil
		case 'E':
			return errors.New("server refused the session")
		case 'R':
			if len(msg) < 9 {
				return errors.New("short Authentication message")
			}
			switch binary.BigEndian.Uint32(msg[5:9]) {
			case 3, 5, 10, 11: // cleartext, MD5, SASL, SASLContinue: client's turn
				reply, err := readMessage(cr)
				if err != nil {
					return err
				}
				if _, err := server.Write(reply); err != nil {
					return err
				}
			}
		}
	}
}

func readMessage(r *bufio.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > 1<<20 {
		return nil, fmt.Errorf("message %q of %d bytes", hdr[0], n)
	}
	msg := make([]byte, 1+n)
	copy(msg, hdr[:])
	_, err := io.ReadFull(r, msg[5:])
	return msg, err
}

// frames follows message boundaries across reads of a byte stream and
// reports each message's type byte once its header is complete.
type frames struct {
	hdr  [5]byte
	nhdr int
	left int // body bytes of the current message not yet seen
}

func (f *frames) feed(p []byte, each func(typ byte)) {
	for len(p) > 0 {
		if f.left > 0 {
			n := min(f.left, len(p))
			f.left -= n
			p = p[n:]
			continue
		}
		n := copy(f.hdr[f.nhdr:], p)
		f.nhdr += n
		p = p[n:]
		if f.nhdr == len(f.hdr) {
			each(f.hdr[0])
			f.left = int(binary.BigEndian.Uint32(f.hdr[1:])) - 4
			f.nhdr = 0
		}
	}
}
