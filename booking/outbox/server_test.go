package outbox_test

import (
	"cmp"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// serverOptions says how a test SMTP server behaves.
type serverOptions struct {
	// rcptReply answers RCPT; empty means "250 OK".
	rcptReply string
	// silent accepts connections and never says a word.
	silent bool
	// tls, when set, offers STARTTLS with this configuration.
	tls *tls.Config
	// auth offers AUTH PLAIN.
	auth bool
}

// received is what the server was told in one conversation that reached
// the end of DATA.
type received struct {
	from, to string
	data     string
	auth     string // the decoded AUTH PLAIN response
	tls      bool   // whether the mail came over TLS
}

// smtpServer is just enough of an SMTP server to receive a mail: EHLO,
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	addr     string
	opts     serverOptions
	mails    chan received
	accepted chan struct{} // one value per accepted connection

	mu    sync.Mutex
	conns []net.Conn
}

// startServer starts a server on a free port of 127.0.0.1 and stops it, and
// every conversation, when the test ends.
func startServer(t *testing.T, opts serverOptions) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{
		addr:     ln.Addr().String(),
		opts:     opts,
		mails:    make(chan received, 10),
		accepted: make(chan struct{}, 10),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			s.accepted <- struct{}{}
			wg.Go(func() {
				defer conn.Close()
				if err := s.serve(conn); err != nil && !errors.Is(err, net.ErrClosed) {
					t.Logf("test SMTP server: %v", err)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

// serve holds one conversation.
func (s *smtpServer) serve(conn net.Conn) error {
	if s.opts.silent {
		// Read until the client gives up, saying nothing.
		_, err := io.Copy(io.Discard, conn)
		return err
	}
	text := textproto.NewConn(conn)
	var got received
	reply := func(lines ...string) error {
		for _, l := range lines {
			if err := text.PrintfLine("%s", l); err != nil {
				return err
			}
		}
		return nil
	}
	if err := reply("220 test.example ESMTP"); err != nil {
		return err
	}
	for {
		line, err := text.ReadLine()
		if err != nil {
			return nil // the client hung up
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-test.example"}
			if s.opts.tls != nil && !got.tls {
				lines = append(lines, "250-STARTTLS")
			}
			if s.opts.auth {
				lines = append(lines, "250-AUTH PLAIN")
			}
			err = reply(append(lines, "250 HELP")...)
		case "STARTTLS":
			if err := reply("220 go ahead"); err != nil {
				return err
			}
			tlsConn := tls.Server(conn, s.opts.tls)
			if err := tlsConn.Handshake(); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
			text = textproto.NewConn(tlsConn)
			got.tls = true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			decoded, decErr := base64.StdEncoding.DecodeString(resp)
			if mech != "PLAIN" || decErr != nil {
				err = reply("504 unsupported")
				break
			}
			got.auth = string(decoded)
			err = reply("235 accepted")
		case "MAIL":
			got.from = strings.TrimSuffix(strings.TrimPrefix(arg, "FROM:<"), ">")
			err = reply("250 OK")
		case "RCPT":
			got.to = strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">")
			err = reply(cmp.Or(s.opts.rcptReply, "250 OK"))
		case "DATA":
			if err := reply("354 end with a dot"); err != nil {
				return err
			}
			data, readErr := text.ReadDotBytes()
			if readErr != nil {
				return readErr
			}
			got.data = string(data)
			s.mails <- got
			err = reply("250 queued")
		case "QUIT":
			return reply("221 bye")
		default:
			err = reply("502 not implemented")
		}
		if err != nil {
			return err
		}
	}
}
