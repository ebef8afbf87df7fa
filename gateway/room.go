package gateway

import (
	"net/url"

	"github.com/usherhq/usher/admission"
)

// room is a room as the gateway serves it: the admission room plus what the
// gateway precomputes to serve it without allocating.
type room struct {
	id         string
	adm        *admission.Room
	ticketName string
	passName   string
	statusURL  string
}

func newRoom(adm *admission.Room) *room {
	return &room{
		id:         adm.ID(),
		adm:        adm,
		ticketName: admission.TicketCookie(adm.ID()),
		passName:   admission.PassCookie(adm.ID()),
		statusURL:  "/_usher/status?room=" + url.QueryEscape(adm.ID()),
	}
}
