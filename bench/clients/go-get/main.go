// A client for bench/timeouts.sh: one GET of $SYNACK_URL with Go's
// net/http, as an application would write it. With -recommended, the
// timeouts this repository's docs/TIMEOUTS.md recommends.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	recommended := flag.Bool("recommended", false, "a 5 s dial timeout and a 20 s overall timeout")
	flag.Parse()
	client := http.DefaultClient
	if *recommended {
		client = &http.Client{
			Timeout: 20 * time.Second,
			Transport: &http.Transport{
				DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			},
		}
	}
	resp, err := client.Get(os.Getenv("SYNACK_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
