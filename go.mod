module github.com/nfmeter/nfmeter

go 1.26.8

require (
	github.com/gopacket/gopacket v1.7.7 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/term v0.48.0 // indirect
)
