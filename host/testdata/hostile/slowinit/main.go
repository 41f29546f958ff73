// Command slowinit is a hostile plugin whose package initialization never ends.
package main

import "github.com/mqgate/mqgate/sdk"

var n int

func init() {
	sdk.RegisterAllocator(func(sdk.AllocateRequest) []int { return nil })
	for {
		n++
	}
}

func main() {}
