package connbroker

import "testing"

func TestSplitAddresses(t *testing.T) {
	got, err := splitAddresses("127.0.0.2:1, broker-b:2,")
	if err != nil || len(got) != 2 || got[0].Addr != "127.0.0.2:1" || got[1].Addr != "broker-b:2" {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := splitAddresses("a,b:1"); err == nil {
		t.Error("want an error for an address without a port")
	}
}
