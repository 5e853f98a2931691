// Command fiberref is the reference the bench compares csvapi's cached
// pages with: server.NewReferenceApp, a bare fiber app answering every GET
// with the same 2 KB JSON document, in a process of its own as csvapi is.
// It prints the address it listens on, then serves until it is killed.
//
//	go build -o fiberref ./bench/fiberref && ./fiberref -addr 127.0.0.1:0
package main

import (
	"flag"
	"fmt"
	"log"
	"net"

	"github.com/csvapi/csvapi/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	log.Fatal(server.ServeReference(ln))
}
