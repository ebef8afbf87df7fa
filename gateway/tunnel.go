package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// upgradeTarget is where a protocol upgrade (WebSocket and the like) is
// tunnelled: fasthttp's clients speak only request and response, so an
// upgraded connection is a plain byte pipe to an origin address.
type upgradeTarget struct {
	addrs       []string
	next        atomic.Uint32
	tls         *tls.Config
	dialTimeout time.Duration
	handshake   time.Duration // bound on the origin's answer to the upgrade
	maxHeader   int
}

func (u *upgradeTarget) dial() (net.Conn, error) {
	addr := u.addrs[int(u.next.Add(1))%len(u.addrs)]
	d := net.Dialer{Timeout: u.dialTimeout}
	if u.tls != nil {
		return (&tls.Dialer{NetDialer: &d, Config: u.tls}).Dial("tcp", addr)
	}
	return d.Dial("tcp", addr)
}

// tunnel forwards an upgrade request to the origin. If the origin switches
// protocols, the visitor's connection is handed over and joined to the
// origin's, byte for byte, until either side closes or the gateway stops;
// any other answer is passed back as an ordinary response. It returns the
// origin's status code, 0 when it did not answer.
func (p *proxy) tunnel(ctx *fasthttp.RequestCtx) int {
	up, err := p.upgrade.dial()
	if err != nil {
		p.Fail(ctx, err)
		return 0
	}
	_ = up.SetDeadline(time.Now().Add(p.upgrade.handshake))
	bw := bufio.NewWriter(up)
	if err := ctx.Request.Write(bw); err != nil || bw.Flush() != nil {
		up.Close()
		p.Fail(ctx, errors.Join(err, errors.New("write upgrade request")))
		return 0
	}
	br := bufio.NewReaderSize(up, p.upgrade.maxHeader)
	resp := &ctx.Response
	resp.Reset()
	if err := resp.Header.Read(br); err != nil {
		up.Close()
		p.Fail(ctx, err)
		return 0
	}
	if code := resp.StatusCode(); code != fasthttp.StatusSwitchingProtocols {
		// Refused: an ordinary response, body and all.
		err := resp.ReadBody(br, 0)
		up.Close()
		if err != nil {
			p.Fail(ctx, err)
			return 0
		}
		stripHopByHopResponse(&resp.Header)
		return code
	}
	_ = up.SetDeadline(time.Time{})
	stop := p.stop
	ctx.Hijack(func(c net.Conn) {
		defer up.Close()
		done := context.AfterFunc(stop, func() {
			c.Close()
			up.Close()
		})
		defer done()
		// Bytes the origin sent right after its answer are in br.
		errc := make(chan error, 2)
		go func() {
			_, err := io.Copy(up, c)
			closeWrite(up)
			errc <- err
		}()
		go func() {
			_, err := io.Copy(c, br)
			closeWrite(c)
			errc <- err
		}()
		<-errc
		<-errc
	})
	return fasthttp.StatusSwitchingProtocols
}

// closeWrite half-closes a connection so the peer sees the end of the
// stream while the other direction finishes.
func closeWrite(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if hc, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		c = hc.UnsafeConn()
	}
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
