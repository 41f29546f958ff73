// Package remotingtest gives tests doubles of a NameServer and a broker: a remoting
// server, on netpoll.Server, that answers the request codes it is given handlers for and
// records every request it gets, and a NameServer answering routes from a table.
package remotingtest
