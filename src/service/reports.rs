//! Reports: scorecard, funnel, flows, sufficiency, tracking, for the audiences the policy
//! admits.
