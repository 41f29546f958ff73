package netpoll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/remoting"
)

// selfSigned returns a server config with a fresh self-signed ECDSA certificate for
// 127.0.0.1 and a client config trusting it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mqgate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool}
	return server, client
}

func TestTransportsRoundTripPushAndLoss(t *testing.T) {
	stls, ctls := selfSigned(t)
	for _, tc := range []struct {
		name string
		scfg ServerConfig
		ccfg ClientConfig
	}{
		{"netpoll", ServerConfig{}, ClientConfig{}},
		{"net.Conn", ServerConfig{NetConn: true}, ClientConfig{NetConn: true}},
		{"TLS", ServerConfig{TLS: stls}, ClientConfig{TLS: ctls}},
		{"netpoll client, net.Conn server", ServerConfig{NetConn: true}, ClientConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) { testRoundTripPushAndLoss(t, tc.scfg, tc.ccfg) })
	}
}

func testRoundTripPushAndLoss(t *testing.T, scfg ServerConfig, ccfg ClientConfig) {
	check := leaktest.Check(t)
	conns := make(chan *Conn, 1)
	g := newGate()
	scfg.OnConnect = func(c *Conn) { conns <- c }
	srv, addr := startServer(t, scfg, g)
	cl, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.Handle(remoting.GetConsumerRunningInfo, echo)

	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := fmt.Sprintf("%d-%d", w, i)
				resp, err := cl.Invoke(context.Background(), addr, request(codeEcho, id, remoting.SerializeType(i%2)))
				if err != nil || resp.Ext.Get("id") != id || string(resp.Body) != "body-"+id {
					t.Errorf("request %s: %v %v", id, resp, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	sc := <-conns
	resp, err := sc.Invoke(context.Background(), request(remoting.GetConsumerRunningInfo, "push", remoting.JSON))
	if err != nil || resp.Ext.Get("id") != "push" {
		t.Fatalf("push: %v %v", resp, err)
	}

	errs := make(chan error, 10)
	for i := range 10 {
		go func() {
			_, err := cl.Invoke(context.Background(), addr, request(codeGate, fmt.Sprint(i), remoting.JSON))
			errs <- err
		}()
	}
	waitFor(t, "requests to arrive", 2*time.Second, func() bool { return g.count() == 10 })
	_ = sc.Close()
	for range 10 {
		if err := <-errs; !errors.Is(err, ErrConnClosed) {
			t.Errorf("after the server closed the connection: %v", err)
		}
	}
	close(g.open)
	if _, err := cl.Invoke(context.Background(), addr, request(codeEcho, "again", remoting.JSON)); err != nil {
		t.Fatalf("reconnect: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	check()
}

func TestTLSClientRefusesAnUntrustedServer(t *testing.T) {
	stls, _ := selfSigned(t)
	_, addr := startServer(t, ServerConfig{TLS: stls, Logger: (&logRecorder{}).logger()}, nil)
	cl := newClient(t, ClientConfig{TLS: &tls.Config{}})
	_, err := cl.Invoke(context.Background(), addr, request(codeEcho, "x", remoting.JSON))
	var ce *ConnError
	if !errors.As(err, &ce) || ce.Op != "dial" {
		t.Fatalf("err = %v, want a dial *ConnError", err)
	}
}

func TestTLSOversizedFrameClosesTheConnection(t *testing.T) {
	stls, ctls := selfSigned(t)
	logs := &logRecorder{}
	_, addr := startServer(t, ServerConfig{TLS: stls, MaxFrameLength: 1024, Logger: logs.logger()}, nil)
	cl := newClient(t, ClientConfig{TLS: ctls, Logger: (&logRecorder{}).logger()})
	req := request(codeEcho, "big", remoting.JSON)
	req.Body = make([]byte, 4096)
	_, err := cl.Invoke(context.Background(), addr, req)
	if !errors.Is(err, ErrConnClosed) {
		t.Fatalf("err = %v, want ErrConnClosed", err)
	}
	waitFor(t, "the error to be logged", 2*time.Second, func() bool { return logs.count("bad frame length") == 1 })
}
