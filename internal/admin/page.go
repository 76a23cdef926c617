package admin

func (h *Handler) pageRoutes() {}
