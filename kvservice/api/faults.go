package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) faultRoutes(r *gin.Engine) {
	g := r.Group("/fault", a.need(RoleAdmin))
	g.GET("", func(c *gin.Context) {
		setOp(c, "fault")
		c.JSON(http.StatusOK, a.faults.Faults())
	})
	g.PUT("/network", func(c *gin.Context) {
		setOp(c, "fault")
		var req NetworkFaults
		if !a.bindFault(c, &req) {
			return
		}
		for _, rule := range req.Rules {
			if rule.Peer == "" {
				a.fail(c, Errorf(CodeBadRequest, "a rule needs a peer"))
				return
			}
			switch rule.Direction {
			case "", "in", "out", "both":
			default:
				a.fail(c, Errorf(CodeBadRequest, "direction %q: want in, out or both", rule.Direction))
				return
			}
			if rule.Loss < 0 || rule.Loss > 1 || rule.DelayMS < 0 || rule.JitterMS < 0 {
				a.fail(c, Errorf(CodeBadRequest, "loss must be in [0,1] and delays non-negative"))
				return
			}
		}
		a.faultResult(c, a.faults.SetNetworkFaults(req.Rules))
	})
	g.DELETE("/network", func(c *gin.Context) {
		setOp(c, "fault")
		a.faults.ClearNetworkFaults()
		c.JSON(http.StatusOK, a.faults.Faults())
	})
	g.PUT("/clock", func(c *gin.Context) {
		setOp(c, "fault")
		req := ClockFault{Rate: 1}
		if !a.bindFault(c, &req) {
			return
		}
		if req.Rate <= 0 || req.StrobeDeltaMS < 0 || req.StrobePeriodMS < 0 || (req.StrobeDeltaMS != 0 && req.StrobePeriodMS == 0) {
			a.fail(c, Errorf(CodeBadRequest, "rate must be > 0, strobe values non-negative, and a strobe needs a period"))
			return
		}
		a.faultResult(c, a.faults.SetClock(req))
	})
	g.DELETE("/clock", func(c *gin.Context) {
		setOp(c, "fault")
		a.faults.ClearClock()
		c.JSON(http.StatusOK, a.faults.Faults())
	})
	g.PUT("/failpoint", func(c *gin.Context) {
		setOp(c, "fault")
		var req Failpoint
		if !a.bindFault(c, &req) {
			return
		}
		if req.After < 0 {
			a.fail(c, Errorf(CodeBadRequest, "after must be >= 0"))
			return
		}
		a.faultResult(c, a.faults.ArmFailpoint(req))
	})
	g.DELETE("/failpoint", func(c *gin.Context) {
		setOp(c, "fault")
		a.faults.DisarmFailpoint()
		c.JSON(http.StatusOK, a.faults.Faults())
	})
}

func (a *API) bindFault(c *gin.Context, v any) bool {
	body, e := readBody(c)
	if e == nil {
		e = decodeJSON(body, v)
	}
	if e != nil {
		a.fail(c, e)
		return false
	}
	return true
}

func (a *API) faultResult(c *gin.Context, err error) {
	if err != nil {
		var e *Error
		if ae, ok := err.(*Error); ok {
			e = ae
		} else {
			e = Errorf(CodeBadRequest, "%v", err)
		}
		a.fail(c, e)
		return
	}
	c.JSON(http.StatusOK, a.faults.Faults())
}
