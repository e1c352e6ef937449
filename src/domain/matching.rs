//! Matching (DESIGN §4): which approved households may be suggested for a child or a
//! must-stay-together sibling group, in what order and why — and the reverse, which waiting
//! children for a household.
//!
//! Pure: no I/O and no clock. Ages and waiting times are computed as of the `as_of`
//! argument, so a result can be reproduced. The store loads the candidates (the pool the
//! actor may see: approved, available, shared or own households); who may see what is not a
//! matching rule and is not decided here.
//!
//! * **Hard rules** ([`HardRule`]) are checked in a fixed order (the order of the enum). A
//!   pair failing one is excluded and tallied under the *first* rule it fails, so the tally
//!   sums to the number excluded and tells family finders where the pool falls short.
//! * **Soft criteria** ([`Criterion`]) each score 0..=1 with a one-line reason. The score of
//!   a suggestion is `100 × Σ wᵢ·sᵢ / Σ wᵢ` with [`Weights`] (per consortium, overridable
//!   per query), rounded to [`SCORE_STEP`] point; suggestions are ranked on that rounded
//!   score, so scores equal in exact arithmetic tie whatever the float rounding noise.
//!
//! **Locations do not leak through scores.** A caller knows where their own households and
//! birth family areas are, so any exact function of a distance to another authority's
//! record would let them trilaterate it from a few answers. The distance criterion
//! therefore never sees an exact position: both locations are first snapped to the centre
//! of their square of a fixed grid of about [`LOCATION_CELL_KM`] km
//! ([`GeoPoint::cell_centre`]), and the distance between the two centres is then put in a
//! [`DISTANCE_BAND_KM`] km band, whose score and reason are all that is reported. Whatever
//! a caller's own records and weights, an answer depends on another record's location only
//! through its grid square, so any number of answers locate it no finer than that square.
//! The hard rule on the minimum distance from the birth family area reads the same squares,
//! conservatively: a household is excluded when the *least* distance between any point of
//! its square and any point of the birth family area's square
//! ([`GridCell::min_distance_km`]) is below the child's minimum. It never admits a
//! household truly closer than the minimum, so it stays safe for the child; the cost is
//! that it excludes some households that are in fact far enough — up to about two squares'
//! diagonals (some 140 km) beyond the minimum; for a minimum of at most
//! [`LOCATION_CELL_KM`] km, every household in the same or a neighbouring square. An exact rule would let a
//! caller binary-search another authority's location by varying their own child's
//! minimum or area, or their own household, and watching one exclusion bit.
//!
//! Ethnicity is not an input: neither [`MatchChild`] nor [`Candidate`] carries it, so it can
//! neither exclude a household nor lower a score. Identity considerations recorded by the
//! child's social worker (religion, language, culture codes) are scored as "can the
//! household meet them".
//!
//! Both directions — [`evaluate`] (households for a child) and [`evaluate_children`]
//! (children for a household) — go through the same pair assessment, so a pair gets the
//! same verdict, score and reasons whichever side asks.
use std::cmp::Ordering;
use std::collections::HashSet;

use async_graphql::Enum;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use strum::IntoStaticStr;

use super::{Gender, GenderPreference, NeedCategory, NeedLevel, NeedLevels};
use super::{days_between, months_between};

/// Mean Earth radius in km (IUGG), used for great-circle distances.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Up to this distance (km) from the birth family area the distance criterion scores 1.
pub const DISTANCE_FULL_SCORE_KM: f64 = 50.0;

/// From this distance (km) from the birth family area the distance criterion scores 0.
pub const DISTANCE_ZERO_SCORE_KM: f64 = 250.0;

/// Width (km) of the distance bands between [`DISTANCE_FULL_SCORE_KM`] and
/// [`DISTANCE_ZERO_SCORE_KM`]: the distance criterion scores a band, at its middle
/// distance (50–100 km scores as 75 km: 0.875; 100–150 km 0.625; 150–200 km 0.375;
/// 200–250 km 0.125), and its reason names the band.
pub const DISTANCE_BAND_KM: f64 = 50.0;

/// Side (km, at least) of the grid squares that locations are snapped to before the
/// distance criterion measures them (see [`GeoPoint::cell_centre`]). As wide as a distance
/// band, so the criterion locates another authority's record no finer than a band.
pub const LOCATION_CELL_KM: f64 = 50.0;

/// Suggestion scores (0..=100) are rounded to this step, halves up, and ranked on the
/// rounded value.
pub const SCORE_STEP: f64 = 0.1;

/// Steps of [`SCORE_STEP`] in one point.
const STEPS_PER_POINT: i64 = 10;

/// An exact score (0..=100) in whole steps of [`SCORE_STEP`], halves up. It is first taken
/// to the nearest 10⁻⁹ point, an integer: that absorbs the float rounding noise (about
/// 10⁻¹⁴) between sums that are equal in exact arithmetic but were added up from different
/// terms, so they land on the same step and tie.
fn score_steps(exact: f64) -> i64 {
    const NANOS_PER_POINT: i64 = 1_000_000_000;
    let nanos = (exact * NANOS_PER_POINT as f64).round() as i64;
    let per_step = NANOS_PER_POINT / STEPS_PER_POINT;
    (nanos + per_step / 2).div_euclid(per_step)
}

/// Days of waiting since approval at which the waiting-time criterion reaches 1.
pub const WAITING_FULL_SCORE_DAYS: i64 = 365;

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

/// A coarse location in decimal degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// A point at `lat`, `lon` (degrees).
    pub fn new(lat: f64, lon: f64) -> Self {
        GeoPoint { lat, lon }
    }

    /// The point of a stored pair of coordinates, when both are recorded.
    pub fn from_parts(lat: Option<f64>, lon: Option<f64>) -> Option<Self> {
        Some(GeoPoint::new(lat?, lon?))
    }

    /// Great-circle distance in km by the haversine formula, on a sphere of
    /// [`EARTH_RADIUS_KM`]. Coarse locations make anything finer pointless.
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let d_phi = phi2 - phi1;
        let d_lambda = (other.lon - self.lon).to_radians();
        let a =
            (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// The centre of this point's square of a fixed grid (see [`GeoPoint::cell`]), as the
    /// distance criterion sees the point.
    ///
    /// Whatever is computed from the centre alone says nothing about where in its square
    /// the point lies.
    pub fn cell_centre(self) -> GeoPoint {
        self.cell().centre()
    }

    /// This point's square of a fixed grid. Rows are [`LOCATION_CELL_KM`] km of latitude
    /// high, counted from the south pole; each row is cut into columns
    /// [`LOCATION_CELL_KM`] km wide at its poleward edge (so wider towards the equator),
    /// counted eastwards from 180°W. Every square is thus at least [`LOCATION_CELL_KM`] km
    /// across both ways (the last column of a row, at the antimeridian, may be narrower;
    /// near the poles a row is one square).
    pub fn cell(self) -> GridCell {
        let row_deg = (LOCATION_CELL_KM / EARTH_RADIUS_KM).to_degrees();
        let row = ((self.lat + 90.0) / row_deg).floor();
        let south = (-90.0 + row * row_deg).clamp(-90.0, 90.0);
        let north = (south + row_deg).clamp(-90.0, 90.0);
        let poleward = south.abs().max(north.abs()).to_radians().cos();
        let col_deg = if poleward * 360.0 > row_deg {
            (row_deg / poleward).min(360.0)
        } else {
            360.0
        };
        let col = ((self.lon + 180.0) / col_deg).floor();
        GridCell {
            south,
            north,
            col,
            width: col_deg,
        }
    }
}

/// One square of the location grid ([`GeoPoint::cell`]), in degrees. A square may run past
/// 180°E (the last column of a row); longitudes are compared modulo 360°.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridCell {
    south: f64,
    north: f64,
    /// Columns counted eastwards from 180°W.
    col: f64,
    /// Degrees of longitude of a column.
    width: f64,
}

impl GridCell {
    /// The centre of the square.
    pub fn centre(self) -> GeoPoint {
        GeoPoint {
            lat: (self.south + self.north) / 2.0,
            lon: -180.0 + (self.col + 0.5) * self.width,
        }
    }

    /// The western edge (degrees).
    fn west(self) -> f64 {
        -180.0 + self.col * self.width
    }

    /// A lower bound (km) of [`GeoPoint::distance_km`] between any point of this square and
    /// any point of `other`, less [`CELL_DISTANCE_SLACK_KM`] for float rounding: never
    /// more than the distance of any such pair. 0 for the same or touching squares.
    ///
    /// The haversine is `sin²(Δφ/2) + cos φ₁ · cos φ₂ · sin²(Δλ/2)`, increasing in each term.
    /// Each term is bounded below on its own: `|Δφ|` by the gap between the two squares'
    /// latitudes, `cos φ` by its value at the square's poleward edge (cos is concave on
    /// −90°..90°, so its least on a band of latitude is at an edge), and `|Δλ|` (modulo
    /// 360°, at most 180°) by the gap between their longitudes. The sum of the bounds is
    /// a bound of the sum, whatever latitude a column's width was measured at.
    pub fn min_distance_km(self, other: GridCell) -> f64 {
        let d_phi = (other.south - self.north)
            .max(self.south - other.north)
            .max(0.0)
            .to_radians();
        // Differences other − self of longitudes span [lo, lo + span].
        let lo = other.west() - (self.west() + self.width);
        let span = self.width + other.width;
        let from_lo = lo.rem_euclid(360.0);
        let d_lambda = if span >= 360.0 || from_lo + span >= 360.0 {
            0.0
        } else {
            from_lo.min(360.0 - (from_lo + span))
        }
        .to_radians();
        let least_cos = |c: GridCell| {
            c.south
                .to_radians()
                .cos()
                .min(c.north.to_radians().cos())
                .max(0.0)
        };
        let a = (d_phi / 2.0).sin().powi(2)
            + least_cos(self) * least_cos(other) * (d_lambda / 2.0).sin().powi(2);
        (2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin() - CELL_DISTANCE_SLACK_KM).max(0.0)
    }
}

/// Taken off [`GridCell::min_distance_km`] (1 m) so that float rounding in the bound or in
/// a square's edges can never lift it above a distance it bounds.
pub const CELL_DISTANCE_SLACK_KM: f64 = 0.001;

/// One child as matching sees it: what the rules and criteria read, nothing more.
/// There is deliberately no ethnicity here (see the module header).
#[derive(Clone, Debug, PartialEq)]
pub struct MatchChild {
    pub id: i64,
    /// The authority that looks after the child.
    pub authority_id: i64,
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub needs: NeedLevels,
    pub requires_early_permanence: bool,
    /// Identity consideration codes; blank codes count as not recorded.
    pub religion: Option<String>,
    pub language: Option<String>,
    pub culture: Option<String>,
    /// The coarse birth family area, when recorded.
    pub birth_family: Option<GeoPoint>,
    /// How far (km) adopters must live from the birth family area, when set.
    pub min_distance_km: Option<f64>,
    /// When the child started waiting (SHOBPA decision, or placement order).
    pub waiting_since: Option<NaiveDate>,
}

/// Which kind of identity consideration a code records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enum, IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentityKind {
    Religion,
    Language,
    Culture,
}

impl IdentityKind {
    /// All kinds, in reporting order.
    pub const ALL: [IdentityKind; 3] = [
        IdentityKind::Religion,
        IdentityKind::Language,
        IdentityKind::Culture,
    ];

    fn word(self) -> &'static str {
        match self {
            IdentityKind::Religion => "religion",
            IdentityKind::Language => "language",
            IdentityKind::Culture => "culture",
        }
    }
}

/// One identity consideration of a child: a kind and its code (trimmed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityConsideration {
    pub kind: IdentityKind,
    pub code: String,
}

/// One child's birth family constraint: the area (when recorded) and the minimum distance
/// adopters must keep from it (when set).
#[derive(Clone, Copy, Debug, PartialEq)]
struct BirthFamilyArea {
    location: Option<GeoPoint>,
    min_distance_km: Option<f64>,
}

/// The genders present in a subject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Genders {
    female: bool,
    male: bool,
    other: bool,
}

impl Genders {
    fn add(&mut self, gender: Gender) {
        match gender {
            Gender::Female => self.female = true,
            Gender::Male => self.male = true,
            Gender::Other => self.other = true,
        }
    }

    /// A specific preference is met only when every child has that gender; a child
    /// recorded as `OTHER` meets only `ANY`.
    fn meet(self, preference: GenderPreference) -> bool {
        match preference {
            GenderPreference::Any => true,
            GenderPreference::Female => !self.male && !self.other,
            GenderPreference::Male => !self.female && !self.other,
        }
    }
}

/// Why a set of children cannot be matched as one unit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("a match subject needs at least one child")]
    Empty,
    #[error("the children of a match subject must belong to one authority")]
    MixedAuthorities,
    #[error("a child appears twice in a match subject")]
    DuplicateChild,
}

/// What is matched: one child, or a must-stay-together sibling group as one unit.
///
/// Built once with [`MatchSubject::new`] and trusted after: at least one child, one
/// authority, no child twice. Ages are not stored but computed as of the `as_of` given to
/// [`evaluate`], from the youngest and oldest dates of birth.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchSubject {
    /// Ascending.
    child_ids: Vec<i64>,
    authority_id: i64,
    youngest_born_on: NaiveDate,
    oldest_born_on: NaiveDate,
    /// Highest level per category over the children.
    needs: NeedLevels,
    genders: Genders,
    requires_early_permanence: bool,
    /// Union over the children, by kind then code, without duplicates.
    identity: Vec<IdentityConsideration>,
    /// One per child with a recorded area or minimum distance, without duplicates.
    birth_family_areas: Vec<BirthFamilyArea>,
    /// The earliest of the children's.
    waiting_since: Option<NaiveDate>,
    declined_household_ids: HashSet<i64>,
    already_matched: bool,
}

impl MatchSubject {
    /// The subject for `children`: one child, or every member of a must-stay-together
    /// sibling group. Highest needs, union of identity considerations and every child's
    /// own birth family constraint are kept.
    pub fn new(children: &[MatchChild]) -> Result<Self, SubjectError> {
        let first = children.first().ok_or(SubjectError::Empty)?;
        let mut child_ids: Vec<i64> = children.iter().map(|c| c.id).collect();
        child_ids.sort_unstable();
        if child_ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(SubjectError::DuplicateChild);
        }
        if children
            .iter()
            .any(|c| c.authority_id != first.authority_id)
        {
            return Err(SubjectError::MixedAuthorities);
        }

        let mut subject = MatchSubject {
            child_ids,
            authority_id: first.authority_id,
            youngest_born_on: first.date_of_birth,
            oldest_born_on: first.date_of_birth,
            needs: first.needs,
            genders: Genders::default(),
            requires_early_permanence: false,
            identity: Vec::new(),
            birth_family_areas: Vec::new(),
            waiting_since: None,
            declined_household_ids: HashSet::new(),
            already_matched: false,
        };
        for child in children {
            subject.youngest_born_on = subject.youngest_born_on.max(child.date_of_birth);
            subject.oldest_born_on = subject.oldest_born_on.min(child.date_of_birth);
            subject.needs = subject.needs.max(&child.needs);
            subject.genders.add(child.gender);
            subject.requires_early_permanence |= child.requires_early_permanence;
            for (kind, code) in [
                (IdentityKind::Religion, &child.religion),
                (IdentityKind::Language, &child.language),
                (IdentityKind::Culture, &child.culture),
            ] {
                let Some(code) = code.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
                    continue;
                };
                let known = subject
                    .identity
                    .iter()
                    .any(|i| i.kind == kind && i.code.eq_ignore_ascii_case(code));
                if !known {
                    subject.identity.push(IdentityConsideration {
                        kind,
                        code: code.to_owned(),
                    });
                }
            }
            let area = BirthFamilyArea {
                location: child.birth_family,
                // A zero, negative or non-finite distance sets no constraint.
                min_distance_km: child
                    .min_distance_km
                    .filter(|km| km.is_finite() && *km > 0.0),
            };
            let recorded = area.location.is_some() || area.min_distance_km.is_some();
            if recorded && !subject.birth_family_areas.contains(&area) {
                subject.birth_family_areas.push(area);
            }
            subject.waiting_since = match (subject.waiting_since, child.waiting_since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        subject.identity.sort();
        Ok(subject)
    }

    /// Households this child (or group) was declined with before: never suggested again.
    pub fn with_declined(mut self, household_ids: impl IntoIterator<Item = i64>) -> Self {
        self.declined_household_ids.extend(household_ids);
        self
    }

    /// Whether the child (or group) already has a `MATCHED`/`PLACED` link.
    pub fn with_already_matched(mut self, already_matched: bool) -> Self {
        self.already_matched = already_matched;
        self
    }

    /// The children, ascending.
    pub fn child_ids(&self) -> &[i64] {
        &self.child_ids
    }

    /// The subject's id for ordering: its lowest child id.
    pub fn id(&self) -> i64 {
        self.child_ids[0]
    }

    /// How many children are placed together (1 for a single child).
    pub fn size(&self) -> usize {
        self.child_ids.len()
    }

    /// The authority that looks after the children.
    pub fn authority_id(&self) -> i64 {
        self.authority_id
    }

    /// Ages in whole months of the youngest and the oldest child as of `as_of`.
    pub fn ages_months(&self, as_of: NaiveDate) -> (i32, i32) {
        (
            months_between(self.youngest_born_on, as_of),
            months_between(self.oldest_born_on, as_of),
        )
    }

    /// The highest need level per category over the children.
    pub fn needs(&self) -> NeedLevels {
        self.needs
    }

    /// Whether any child requires early permanence.
    pub fn requires_early_permanence(&self) -> bool {
        self.requires_early_permanence
    }

    /// The identity considerations of all the children.
    pub fn identity(&self) -> &[IdentityConsideration] {
        &self.identity
    }

    /// When the longest-waiting child started waiting.
    pub fn waiting_since(&self) -> Option<NaiveDate> {
        self.waiting_since
    }
}

/// An adopter household as matching sees it. There is deliberately no ethnicity here.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub id: i64,
    /// The authority (agency) that approved the household.
    pub authority_id: i64,
    /// The household's stage is `APPROVED`.
    pub approved: bool,
    pub approved_on: Option<NaiveDate>,
    /// Available for matching and not on hold.
    pub available: bool,
    /// Already has a `MATCHED`/`PLACED` link.
    pub already_matched: bool,
    /// Most children the household is approved for.
    pub capacity: i16,
    pub age_min_months: i32,
    pub age_max_months: i32,
    /// Highest need level accepted per category.
    pub accepts: NeedLevels,
    pub accepts_siblings: bool,
    pub gender_preference: GenderPreference,
    pub early_permanence_approved: bool,
    pub religion: Option<String>,
    pub languages: Vec<String>,
    pub culture: Option<String>,
    pub location: Option<GeoPoint>,
}

/// The language codes of a stored comma-separated list, trimmed, blanks dropped.
pub fn split_languages(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Rules, criteria, weights
// ---------------------------------------------------------------------------------------

/// A hard rule. The declaration order is the evaluation order and the tally order: a pair
/// is tallied under the first rule it fails. Status rules come first (a household that is
/// not available says nothing about where approval profiles fall short), then the approval
/// profile in the order of DESIGN §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enum, IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum HardRule {
    /// The household is not approved (or was approved after `as_of`), or is not available
    /// for matching (or is on hold).
    NotAvailable,
    /// The household, or the child, already has a `MATCHED`/`PLACED` link.
    AlreadyMatched,
    /// The pair was declined before.
    Declined,
    /// The household's capacity is below the number of children.
    Capacity,
    /// A sibling group, and the household does not accept sibling groups.
    SiblingsNotAccepted,
    /// A child's age is outside the accepted range.
    AgeRange,
    /// A need level is above what the household accepts.
    Needs,
    /// The household's gender preference excludes a child.
    GenderPreference,
    /// Early permanence is required and the household is not approved for it.
    EarlyPermanence,
    /// The household may be closer to a birth family area than the child's minimum
    /// distance — judged on 50 km grid squares, conservatively: the least distance between
    /// any point of the two squares is below the minimum — or the distance cannot be
    /// verified (either location not recorded).
    BirthFamilyDistance,
}

impl HardRule {
    /// Every rule, in evaluation order.
    pub const ALL: [HardRule; 10] = [
        HardRule::NotAvailable,
        HardRule::AlreadyMatched,
        HardRule::Declined,
        HardRule::Capacity,
        HardRule::SiblingsNotAccepted,
        HardRule::AgeRange,
        HardRule::Needs,
        HardRule::GenderPreference,
        HardRule::EarlyPermanence,
        HardRule::BirthFamilyDistance,
    ];

    /// The code, e.g. `AGE_RANGE`.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// A few words for a tally line ("212 excluded: age range").
    pub fn label(self) -> &'static str {
        match self {
            HardRule::NotAvailable => "not approved or not available",
            HardRule::AlreadyMatched => "already matched",
            HardRule::Declined => "declined before",
            HardRule::Capacity => "capacity below group size",
            HardRule::SiblingsNotAccepted => "siblings not accepted",
            HardRule::AgeRange => "age range",
            HardRule::Needs => "needs above those accepted",
            HardRule::GenderPreference => "gender preference",
            HardRule::EarlyPermanence => "early permanence not approved",
            HardRule::BirthFamilyDistance => "too close to the birth family area",
        }
    }
}

/// A soft criterion, each scored 0..=1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enum, IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Criterion {
    /// Room the accepted need levels leave above the child's: the mean over the six
    /// categories of `(accepted − child) / 3`.
    NeedsHeadroom,
    /// How centrally the children's ages sit in the accepted range: per age
    /// `1 − |age − centre| / half-width`, the lower of the youngest's and the oldest's
    /// (1 when the range is a single month).
    AgeFit,
    /// Share of the child's identity considerations the household meets (same religion
    /// code; the language among the household's languages; same culture code); 1 when
    /// none are recorded.
    Identity,
    /// Travel distance for contact, to the (farthest) birth family area, in 50 km bands:
    /// both locations are snapped to their square of a fixed 50 km grid, and the distance
    /// between the squares' centres scores 1 within 50 km, 0 from 250 km, and in between
    /// the score at its band's middle (0.875, 0.625, 0.375, 0.125: linear from 50 to
    /// 250 km); 0.5 when either location is not recorded. Never an exact distance, so that
    /// no answer locates another authority's record finer than its grid square.
    Distance,
    /// How long the household has waited since approval: `min(days / 365, 1)`.
    WaitingTime,
    /// 1 when the household's authority is the child's, else 0.
    SameAuthority,
}

impl Criterion {
    /// Every criterion, in reporting order.
    pub const ALL: [Criterion; 6] = [
        Criterion::NeedsHeadroom,
        Criterion::AgeFit,
        Criterion::Identity,
        Criterion::Distance,
        Criterion::WaitingTime,
        Criterion::SameAuthority,
    ];

    /// The code, e.g. `NEEDS_HEADROOM`.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// The camelCase name of its weight in GraphQL inputs (and error `field`s).
    pub fn field(self) -> &'static str {
        match self {
            Criterion::NeedsHeadroom => "needsHeadroom",
            Criterion::AgeFit => "ageFit",
            Criterion::Identity => "identity",
            Criterion::Distance => "distance",
            Criterion::WaitingTime => "waitingTime",
            Criterion::SameAuthority => "sameAuthority",
        }
    }
}

/// One weight per soft criterion, as stored per consortium or overridden per query.
/// Check with [`Weights::validate`] before use.
///
/// The consortium defaults ([`Weights::default`]) put the child first:
/// needs headroom 3 (a family ready for more than the child shows today is the best guard
/// against disruption, as needs often emerge later); age fit 2 and identity 2 (a child
/// comfortably within what the family was approved for, whose identity needs they can
/// meet); distance 1 and waiting time 1 (practical contact, fairness to waiting adopters);
/// same authority 0.5 (a mild in-house preference that never outweighs a child's needs).
///
/// Stored as JSON named as in the API (`consortium.match_weights`); a weight missing from
/// the stored JSON takes its built-in default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Weights {
    pub needs_headroom: f64,
    pub age_fit: f64,
    pub identity: f64,
    pub distance: f64,
    pub waiting_time: f64,
    pub same_authority: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            needs_headroom: 3.0,
            age_fit: 2.0,
            identity: 2.0,
            distance: 1.0,
            waiting_time: 1.0,
            same_authority: 0.5,
        }
    }
}

/// Why weights were refused: the weight's field (`"weights"` when the set as a whole is at
/// fault) and a sentence for the user.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct WeightsError {
    pub field: &'static str,
    pub message: String,
}

impl Weights {
    /// The weight of one criterion.
    pub fn get(&self, criterion: Criterion) -> f64 {
        match criterion {
            Criterion::NeedsHeadroom => self.needs_headroom,
            Criterion::AgeFit => self.age_fit,
            Criterion::Identity => self.identity,
            Criterion::Distance => self.distance,
            Criterion::WaitingTime => self.waiting_time,
            Criterion::SameAuthority => self.same_authority,
        }
    }

    /// These weights with one of them replaced (a per-query override).
    pub fn with(mut self, criterion: Criterion, weight: f64) -> Self {
        *match criterion {
            Criterion::NeedsHeadroom => &mut self.needs_headroom,
            Criterion::AgeFit => &mut self.age_fit,
            Criterion::Identity => &mut self.identity,
            Criterion::Distance => &mut self.distance,
            Criterion::WaitingTime => &mut self.waiting_time,
            Criterion::SameAuthority => &mut self.same_authority,
        } = weight;
        self
    }

    /// Checks that every weight is a finite number ≥ 0 and that they are not all zero.
    pub fn validate(self) -> Result<ValidWeights, WeightsError> {
        for criterion in Criterion::ALL {
            let w = self.get(criterion);
            if !w.is_finite() || w < 0.0 {
                return Err(WeightsError {
                    field: criterion.field(),
                    message: format!(
                        "{} must be a finite number of at least 0",
                        criterion.field()
                    ),
                });
            }
        }
        let total: f64 = Criterion::ALL.iter().map(|c| self.get(*c)).sum();
        if total <= 0.0 || !total.is_finite() {
            return Err(WeightsError {
                field: "weights",
                message: "at least one weight must be above 0, and their sum finite".into(),
            });
        }
        Ok(ValidWeights {
            weights: self,
            total,
        })
    }
}

/// Weights that passed [`Weights::validate`]: the only kind matching accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidWeights {
    weights: Weights,
    total: f64,
}

impl ValidWeights {
    /// The weight of one criterion.
    pub fn get(&self, criterion: Criterion) -> f64 {
        self.weights.get(criterion)
    }

    /// The weights themselves.
    pub fn weights(&self) -> Weights {
        self.weights
    }
}

impl Default for ValidWeights {
    /// The consortium defaults (see [`Weights`]).
    fn default() -> Self {
        let weights = Weights::default();
        ValidWeights {
            weights,
            total: Criterion::ALL.iter().map(|c| weights.get(*c)).sum(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// How many pairs were excluded under one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exclusion {
    pub rule: HardRule,
    pub count: u64,
}

/// One criterion of a suggestion: its score, its weight and why.
#[derive(Clone, Debug, PartialEq)]
pub struct CriterionScore {
    pub criterion: Criterion,
    /// 0..=1.
    pub score: f64,
    pub weight: f64,
    /// One line, with no personal data.
    pub reason: String,
}

/// A suggested pair: a household and a child (or sibling group).
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub household_id: i64,
    /// The child, or every member of the sibling group, ascending.
    pub child_ids: Vec<i64>,
    /// 0..=100, rounded to [`SCORE_STEP`].
    pub score: f64,
    /// Every criterion, in [`Criterion::ALL`] order, weight 0 included.
    pub criteria: Vec<CriterionScore>,
}

/// The outcome of a matching run.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchResult {
    /// How many candidates were considered (the input length).
    pub pool_size: u64,
    /// How many passed every hard rule (suggestions may be fewer: see `first`).
    pub eligible: u64,
    /// Exclusions per rule, non-zero only, in [`HardRule::ALL`] order; they sum to
    /// `pool_size − eligible`.
    pub excluded: Vec<Exclusion>,
    /// The best `first` eligible pairs, best first.
    pub suggestions: Vec<Suggestion>,
}

impl MatchResult {
    /// How many were excluded in all.
    pub fn excluded_total(&self) -> u64 {
        self.excluded.iter().map(|e| e.count).sum()
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// Households for a child or sibling group: the best `first`, ranked by score, ties broken
/// by longest wait since approval (earliest `approved_on` first, unknown last), then
/// household id.
pub fn evaluate<C: std::borrow::Borrow<Candidate>>(
    subject: &MatchSubject,
    candidates: &[C],
    weights: &ValidWeights,
    as_of: NaiveDate,
    first: usize,
) -> MatchResult {
    let prepared = Prepared::new(subject, as_of);
    rank(
        candidates.len(),
        |i| {
            let household = candidates[i].borrow();
            Pair {
                subject: prepared,
                household,
                waited_from: household.approved_on,
                id: household.id,
            }
        },
        weights,
        as_of,
        first,
    )
}

/// Children (single or sibling groups) for a household, with the same rules and scores:
/// the best `first`, ties broken by longest-waiting child first (earliest `waiting_since`,
/// unknown last), then the subject's lowest child id.
pub fn evaluate_children(
    household: &Candidate,
    subjects: &[MatchSubject],
    weights: &ValidWeights,
    as_of: NaiveDate,
    first: usize,
) -> MatchResult {
    rank(
        subjects.len(),
        |i| {
            let subject = &subjects[i];
            Pair {
                subject: Prepared::new(subject, as_of),
                household,
                waited_from: subject.waiting_since,
                id: subject.id(),
            }
        },
        weights,
        as_of,
        first,
    )
}

/// A subject with its ages worked out for one `as_of`.
#[derive(Clone, Copy)]
struct Prepared<'a> {
    subject: &'a MatchSubject,
    youngest_months: i32,
    oldest_months: i32,
}

impl<'a> Prepared<'a> {
    fn new(subject: &'a MatchSubject, as_of: NaiveDate) -> Self {
        let (youngest_months, oldest_months) = subject.ages_months(as_of);
        Prepared {
            subject,
            youngest_months,
            oldest_months,
        }
    }
}

/// One pair to assess, with what breaks ties on the ranked side.
struct Pair<'a> {
    subject: Prepared<'a>,
    household: &'a Candidate,
    waited_from: Option<NaiveDate>,
    id: i64,
}

/// What ranking keeps per eligible pair: small and allocation-free.
struct Ranked {
    /// The score in steps of [`SCORE_STEP`]: compared exactly.
    steps: i64,
    waited_from: Option<NaiveDate>,
    id: i64,
    index: usize,
}

/// Best first: higher score, then earlier wait start (unknown last), then lower id, then
/// input position (so even duplicate ids order the same way every time).
fn best_first(a: &Ranked, b: &Ranked) -> Ordering {
    b.steps
        .cmp(&a.steps)
        .then_with(|| match (a.waited_from, b.waited_from) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then(a.id.cmp(&b.id))
        .then(a.index.cmp(&b.index))
}

/// The one ranking loop of both directions: assess every pair, tally exclusions, keep the
/// best `first` by partial selection, and explain only those.
fn rank<'a>(
    n: usize,
    pair_at: impl Fn(usize) -> Pair<'a>,
    weights: &ValidWeights,
    as_of: NaiveDate,
    first: usize,
) -> MatchResult {
    let mut tally = [0u64; HardRule::ALL.len()];
    let mut ranked: Vec<Ranked> = Vec::with_capacity(n);
    for index in 0..n {
        let pair = pair_at(index);
        match assess(&pair.subject, pair.household, as_of) {
            Ok(measures) => ranked.push(Ranked {
                steps: score_steps(measures.total(weights)),
                waited_from: pair.waited_from,
                id: pair.id,
                index,
            }),
            Err(rule) => tally[rule as usize] += 1,
        }
    }
    let eligible = ranked.len() as u64;

    if first == 0 {
        ranked.clear();
    } else if first < ranked.len() {
        ranked.select_nth_unstable_by(first - 1, best_first);
        ranked.truncate(first);
    }
    ranked.sort_unstable_by(best_first);

    let mut suggestions = Vec::with_capacity(ranked.len());
    for r in &ranked {
        let pair = pair_at(r.index);
        // Assessment is deterministic, so this pair passes again.
        let Ok(measures) = assess(&pair.subject, pair.household, as_of) else {
            continue;
        };
        suggestions.push(Suggestion {
            household_id: pair.household.id,
            child_ids: pair.subject.subject.child_ids.clone(),
            score: r.steps as f64 / STEPS_PER_POINT as f64,
            criteria: Criterion::ALL
                .iter()
                .map(|&criterion| CriterionScore {
                    criterion,
                    score: measures.score(criterion),
                    weight: weights.get(criterion),
                    reason: measures.reason(criterion),
                })
                .collect(),
        });
    }

    MatchResult {
        pool_size: n as u64,
        eligible,
        excluded: HardRule::ALL
            .iter()
            .zip(tally)
            .filter(|(_, count)| *count > 0)
            .map(|(&rule, count)| Exclusion { rule, count })
            .collect(),
        suggestions,
    }
}

/// The distance measured for the distance criterion: a band, never kilometres.
#[derive(Clone, Copy, Debug)]
enum DistanceMeasure {
    /// The band of the distance between grid squares to the farthest recorded birth family
    /// area (see [`DistanceBand`]).
    Known(DistanceBand),
    HouseholdUnknown,
    AreaUnknown,
}

/// A band of the distance criterion: 0 within [`DISTANCE_FULL_SCORE_KM`], then one per
/// [`DISTANCE_BAND_KM`] km, the last from [`DISTANCE_ZERO_SCORE_KM`] on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DistanceBand(u8);

impl DistanceBand {
    /// The last band: from [`DISTANCE_ZERO_SCORE_KM`] on.
    const LAST: u8 =
        ((DISTANCE_ZERO_SCORE_KM - DISTANCE_FULL_SCORE_KM) / DISTANCE_BAND_KM) as u8 + 1;

    fn of(km: f64) -> Self {
        if km <= DISTANCE_FULL_SCORE_KM {
            DistanceBand(0)
        } else if km >= DISTANCE_ZERO_SCORE_KM {
            DistanceBand(Self::LAST)
        } else {
            let from_full = ((km - DISTANCE_FULL_SCORE_KM) / DISTANCE_BAND_KM).floor();
            DistanceBand((from_full as u8 + 1).min(Self::LAST - 1))
        }
    }

    /// Lower and upper km of a middle band.
    fn bounds(self) -> (f64, f64) {
        let low = DISTANCE_FULL_SCORE_KM + f64::from(self.0 - 1) * DISTANCE_BAND_KM;
        (low, low + DISTANCE_BAND_KM)
    }

    /// 1 for the first, 0 for the last, else the linear score at the band's middle.
    fn score(self) -> f64 {
        match self.0 {
            0 => 1.0,
            n if n >= Self::LAST => 0.0,
            _ => {
                let (low, high) = self.bounds();
                (DISTANCE_ZERO_SCORE_KM - (low + high) / 2.0)
                    / (DISTANCE_ZERO_SCORE_KM - DISTANCE_FULL_SCORE_KM)
            }
        }
    }

    fn words(self) -> String {
        match self.0 {
            0 => format!("within about {DISTANCE_FULL_SCORE_KM} km of"),
            n if n >= Self::LAST => format!("about {DISTANCE_ZERO_SCORE_KM} km or more from"),
            _ => {
                let (low, high) = self.bounds();
                format!("about {low}–{high} km from")
            }
        }
    }
}

/// Everything one eligible pair measures: numbers only, no allocation. Scores and reasons
/// are both read from here, so they cannot disagree.
#[derive(Clone, Copy, Debug)]
struct Measures {
    /// Mean headroom in levels over the categories.
    mean_headroom: f64,
    /// The category with the least headroom (first in category order on a tie).
    tightest: NeedCategory,
    tightest_accepted: NeedLevel,
    tightest_child: NeedLevel,
    group: bool,
    youngest_months: i32,
    oldest_months: i32,
    age_min_months: i32,
    age_max_months: i32,
    /// Per [`IdentityKind`]: considerations met and recorded.
    identity_met: [u32; 3],
    identity_recorded: [u32; 3],
    distance: DistanceMeasure,
    waiting_days: Option<i64>,
    same_authority: bool,
}

/// Checks the hard rules in [`HardRule`] order and, when all pass, measures the pair.
fn assess(p: &Prepared, h: &Candidate, as_of: NaiveDate) -> Result<Measures, HardRule> {
    let s = p.subject;
    let approved_by_then = h.approved_on.is_none_or(|on| on <= as_of);
    if !(h.approved && h.available && approved_by_then) {
        return Err(HardRule::NotAvailable);
    }
    if h.already_matched || s.already_matched {
        return Err(HardRule::AlreadyMatched);
    }
    if s.declined_household_ids.contains(&h.id) {
        return Err(HardRule::Declined);
    }
    if (h.capacity.max(0) as usize) < s.size() {
        return Err(HardRule::Capacity);
    }
    if s.size() > 1 && !h.accepts_siblings {
        return Err(HardRule::SiblingsNotAccepted);
    }
    if p.youngest_months < h.age_min_months || p.oldest_months > h.age_max_months {
        return Err(HardRule::AgeRange);
    }
    let (child, accepted) = (s.needs.ranks(), h.accepts.ranks());
    if child.iter().zip(accepted).any(|(c, a)| *c > a) {
        return Err(HardRule::Needs);
    }
    if !s.genders.meet(h.gender_preference) {
        return Err(HardRule::GenderPreference);
    }
    if s.requires_early_permanence && !h.early_permanence_approved {
        return Err(HardRule::EarlyPermanence);
    }
    // Both the hard rule and the criterion read grid squares only, never an exact
    // location (see the module header): the rule the least distance between the squares,
    // so it never admits a household truly too close; the criterion the distance between
    // their centres. Each child of a group keeps its own area and minimum.
    let mut farthest: Option<f64> = None;
    for area in &s.birth_family_areas {
        let (Some(a), Some(b)) = (area.location, h.location) else {
            if area.min_distance_km.is_some() {
                return Err(HardRule::BirthFamilyDistance);
            }
            continue;
        };
        let (a, b) = (a.cell(), b.cell());
        if let Some(min) = area.min_distance_km {
            let least_km = a.min_distance_km(b);
            // Not `<`: an unmeasurable distance (NaN) excludes too.
            if !(least_km.is_finite() && least_km >= min) {
                return Err(HardRule::BirthFamilyDistance);
            }
        }
        let km = a.centre().distance_km(b.centre());
        if km.is_finite() {
            farthest = Some(farthest.map_or(km, |f| f.max(km)));
        }
    }

    // Every rule passed: measure.
    let mut tightest = 0;
    let mut headroom_sum = 0i32;
    for i in 0..child.len() {
        let headroom = i32::from(accepted[i] - child[i]);
        headroom_sum += headroom;
        if headroom < i32::from(accepted[tightest] - child[tightest]) {
            tightest = i;
        }
    }
    let mut identity_met = [0u32; 3];
    let mut identity_recorded = [0u32; 3];
    for consideration in &s.identity {
        let k = consideration.kind as usize;
        identity_recorded[k] += 1;
        if meets(h, consideration) {
            identity_met[k] += 1;
        }
    }
    let distance = match (h.location, farthest) {
        (None, _) => DistanceMeasure::HouseholdUnknown,
        (Some(_), None) => DistanceMeasure::AreaUnknown,
        (Some(_), Some(km)) => DistanceMeasure::Known(DistanceBand::of(km)),
    };
    Ok(Measures {
        mean_headroom: f64::from(headroom_sum) / child.len() as f64,
        tightest: NEED_CATEGORIES[tightest],
        tightest_accepted: NeedLevel::from_rank(accepted[tightest]),
        tightest_child: NeedLevel::from_rank(child[tightest]),
        group: s.size() > 1,
        youngest_months: p.youngest_months,
        oldest_months: p.oldest_months,
        age_min_months: h.age_min_months,
        age_max_months: h.age_max_months,
        identity_met,
        identity_recorded,
        distance,
        waiting_days: h.approved_on.map(|on| days_between(on, as_of).max(0)),
        same_authority: h.authority_id == s.authority_id,
    })
}

/// Whether the household meets one identity consideration (codes compared trimmed and
/// ignoring ASCII case).
fn meets(h: &Candidate, consideration: &IdentityConsideration) -> bool {
    let same = |code: &str| code.trim().eq_ignore_ascii_case(&consideration.code);
    match consideration.kind {
        IdentityKind::Religion => h.religion.as_deref().is_some_and(same),
        IdentityKind::Language => h.languages.iter().any(|l| same(l)),
        IdentityKind::Culture => h.culture.as_deref().is_some_and(same),
    }
}

/// `NeedCategory` in `NeedLevels` order.
const NEED_CATEGORIES: [NeedCategory; 6] = [
    NeedCategory::PhysicalHealth,
    NeedCategory::Disability,
    NeedCategory::Learning,
    NeedCategory::DevelopmentalUncertainty,
    NeedCategory::EmotionalBehavioural,
    NeedCategory::PrenatalExposure,
];

fn need_words(category: NeedCategory) -> &'static str {
    match category {
        NeedCategory::PhysicalHealth => "physical health",
        NeedCategory::Disability => "disability",
        NeedCategory::Learning => "learning",
        NeedCategory::DevelopmentalUncertainty => "developmental uncertainty",
        NeedCategory::EmotionalBehavioural => "emotional/behavioural",
        NeedCategory::PrenatalExposure => "prenatal exposure",
    }
}

fn levels(n: i16) -> String {
    if n == 1 {
        "1 level".into()
    } else {
        format!("{n} levels")
    }
}

impl Measures {
    /// Where an age sits in the accepted range: 1 at the centre, 0 at either edge.
    fn age_fit(&self, age: i32) -> f64 {
        let centre = f64::from(self.age_min_months + self.age_max_months) / 2.0;
        let half = f64::from(self.age_max_months - self.age_min_months) / 2.0;
        if half <= 0.0 {
            return 1.0;
        }
        (1.0 - (f64::from(age) - centre).abs() / half).clamp(0.0, 1.0)
    }

    fn score(&self, criterion: Criterion) -> f64 {
        match criterion {
            Criterion::NeedsHeadroom => (self.mean_headroom / 3.0).clamp(0.0, 1.0),
            // The fit is highest at the centre and falls linearly both ways, so the
            // lowest fit of any child is that of the youngest or the oldest.
            Criterion::AgeFit => self
                .age_fit(self.youngest_months)
                .min(self.age_fit(self.oldest_months)),
            Criterion::Identity => {
                let recorded: u32 = self.identity_recorded.iter().sum();
                if recorded == 0 {
                    1.0
                } else {
                    f64::from(self.identity_met.iter().sum::<u32>()) / f64::from(recorded)
                }
            }
            Criterion::Distance => match self.distance {
                DistanceMeasure::Known(band) => band.score(),
                DistanceMeasure::HouseholdUnknown | DistanceMeasure::AreaUnknown => 0.5,
            },
            Criterion::WaitingTime => self.waiting_days.map_or(0.0, |days| {
                (days as f64 / WAITING_FULL_SCORE_DAYS as f64).min(1.0)
            }),
            Criterion::SameAuthority => {
                if self.same_authority {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }

    /// `100 × Σ wᵢ·sᵢ / Σ wᵢ`, exact (before rounding to [`SCORE_STEP`]).
    fn total(&self, weights: &ValidWeights) -> f64 {
        let weighted: f64 = Criterion::ALL
            .iter()
            .map(|c| weights.get(*c) * self.score(*c))
            .sum();
        100.0 * weighted / weights.total
    }

    /// One line, with no personal data: levels, ages in months, kinds of identity
    /// consideration (never their codes), distance bands between grid squares (never
    /// exact kilometres, which would let the birth family area be triangulated), days
    /// waited.
    fn reason(&self, criterion: Criterion) -> String {
        let child = if self.group { "group's" } else { "child's" };
        match criterion {
            Criterion::NeedsHeadroom => format!(
                "average headroom {:.2} levels; least in {} needs: accepts up to {}, {} \
                 highest is {} (headroom {})",
                self.mean_headroom,
                need_words(self.tightest),
                <&str>::from(self.tightest_accepted),
                child,
                <&str>::from(self.tightest_child),
                levels(self.tightest_accepted.rank() - self.tightest_child.rank()),
            ),
            Criterion::AgeFit => {
                let centre = f64::from(self.age_min_months + self.age_max_months) / 2.0;
                let off = (f64::from(self.youngest_months) - centre)
                    .abs()
                    .max((f64::from(self.oldest_months) - centre).abs());
                let ages = if self.group {
                    format!(
                        "children are {}–{} months",
                        self.youngest_months, self.oldest_months
                    )
                } else {
                    format!("child is {} months", self.youngest_months)
                };
                format!(
                    "accepts {}–{} months; {ages}, {off} months from the centre of the range",
                    self.age_min_months, self.age_max_months
                )
            }
            Criterion::Identity => {
                let recorded: u32 = self.identity_recorded.iter().sum();
                if recorded == 0 {
                    return "no identity considerations recorded".into();
                }
                let met: u32 = self.identity_met.iter().sum();
                let parts: Vec<String> = IdentityKind::ALL
                    .iter()
                    .filter(|k| self.identity_recorded[**k as usize] > 0)
                    .map(|k| {
                        let i = *k as usize;
                        format!(
                            "{} {}/{}",
                            k.word(),
                            self.identity_met[i],
                            self.identity_recorded[i]
                        )
                    })
                    .collect();
                format!(
                    "meets {met} of {recorded} identity considerations ({})",
                    parts.join(", ")
                )
            }
            Criterion::Distance => match self.distance {
                DistanceMeasure::HouseholdUnknown => {
                    "household location not recorded; neutral score".into()
                }
                DistanceMeasure::AreaUnknown => {
                    "birth family area not recorded; neutral score".into()
                }
                DistanceMeasure::Known(band) => {
                    format!("{} the birth family area, for contact", band.words())
                }
            },
            Criterion::WaitingTime => match self.waiting_days {
                None => "approval date not recorded".into(),
                Some(days) => format!(
                    "approved {days} days ago (full score from {WAITING_FULL_SCORE_DAYS} days)"
                ),
            },
            Criterion::SameAuthority => if self.same_authority {
                "same authority as the child"
            } else {
                "another authority (cross-boundary)"
            }
            .into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn as_of() -> NaiveDate {
        d("2024-01-15")
    }

    /// Birth family area of the fixtures.
    const AREA: GeoPoint = GeoPoint {
        lat: 52.0,
        lon: -1.0,
    };

    /// 36 months old as of `as_of()`, low learning needs, 20 km from the birth family.
    fn child(id: i64) -> MatchChild {
        MatchChild {
            id,
            authority_id: 1,
            date_of_birth: d("2021-01-15"),
            gender: Gender::Female,
            needs: NeedLevels {
                learning: NeedLevel::Low,
                ..Default::default()
            },
            requires_early_permanence: false,
            religion: None,
            language: None,
            culture: None,
            birth_family: Some(AREA),
            min_distance_km: Some(20.0),
            waiting_since: Some(d("2023-06-01")),
        }
    }

    fn single(c: MatchChild) -> MatchSubject {
        MatchSubject::new(&[c]).unwrap()
    }

    /// Passes every rule for `child(_)` (and for the sibling groups below): 1° of latitude
    /// (about 111 km) north of the birth family area.
    fn household(id: i64) -> Candidate {
        Candidate {
            id,
            authority_id: 1,
            approved: true,
            approved_on: Some(d("2023-01-15")),
            available: true,
            already_matched: false,
            capacity: 2,
            age_min_months: 0,
            age_max_months: 96,
            accepts: NeedLevels::from_ranks([2; 6]),
            accepts_siblings: true,
            gender_preference: GenderPreference::Any,
            early_permanence_approved: false,
            religion: None,
            languages: vec!["ENGLISH".into()],
            culture: None,
            location: Some(GeoPoint::new(53.0, -1.0)),
        }
    }

    fn run(subject: &MatchSubject, households: &[Candidate]) -> MatchResult {
        evaluate(
            subject,
            households,
            &ValidWeights::default(),
            as_of(),
            usize::MAX,
        )
    }

    fn ids(result: &MatchResult) -> Vec<i64> {
        result.suggestions.iter().map(|s| s.household_id).collect()
    }

    fn suggestion(result: &MatchResult, household_id: i64) -> &Suggestion {
        result
            .suggestions
            .iter()
            .find(|s| s.household_id == household_id)
            .expect("household suggested")
    }

    fn criterion(result: &MatchResult, household_id: i64, criterion: Criterion) -> f64 {
        suggestion(result, household_id)
            .criteria
            .iter()
            .find(|c| c.criterion == criterion)
            .expect("criterion listed")
            .score
    }

    /// The baseline household 1 is suggested; `failing` (id 2) is excluded and tallied
    /// under `rule` alone.
    fn assert_excluded_under(subject: &MatchSubject, failing: Candidate, rule: HardRule) {
        assert_eq!(failing.id, 2);
        let result = run(subject, &[household(1), failing]);
        assert_eq!(ids(&result), vec![1], "{rule:?}");
        assert_eq!(result.excluded, vec![Exclusion { rule, count: 1 }]);
        assert_eq!((result.pool_size, result.eligible), (2, 1));
    }

    // --- hard rules -------------------------------------------------------------------

    #[test]
    fn a_household_passing_every_rule_is_suggested_with_every_criterion_explained() {
        let result = run(&single(child(10)), &[household(1)]);
        assert_eq!(ids(&result), vec![1]);
        assert!(result.excluded.is_empty());
        let s = &result.suggestions[0];
        assert_eq!(s.child_ids, vec![10]);
        assert_eq!(
            s.criteria.iter().map(|c| c.criterion).collect::<Vec<_>>(),
            Criterion::ALL.to_vec()
        );
        assert!(s.criteria.iter().all(|c| !c.reason.is_empty()));
        assert!((0.0..=100.0).contains(&s.score));
    }

    #[test]
    fn not_approved_not_available_or_approved_after_as_of_is_excluded() {
        let subject = single(child(10));
        for failing in [
            Candidate {
                approved: false,
                ..household(2)
            },
            Candidate {
                available: false,
                ..household(2)
            },
            Candidate {
                approved_on: Some(d("2024-01-16")),
                ..household(2)
            },
        ] {
            assert_excluded_under(&subject, failing, HardRule::NotAvailable);
        }
    }

    #[test]
    fn an_already_matched_household_or_child_is_excluded() {
        let subject = single(child(10));
        let failing = Candidate {
            already_matched: true,
            ..household(2)
        };
        assert_excluded_under(&subject, failing, HardRule::AlreadyMatched);

        let matched = single(child(10)).with_already_matched(true);
        let result = run(&matched, &[household(1), household(2)]);
        assert!(result.suggestions.is_empty());
        assert_eq!(
            result.excluded,
            vec![Exclusion {
                rule: HardRule::AlreadyMatched,
                count: 2
            }]
        );
    }

    #[test]
    fn a_pair_declined_before_is_not_suggested_again() {
        let subject = single(child(10)).with_declined([2]);
        assert_excluded_under(&subject, household(2), HardRule::Declined);
    }

    #[test]
    fn capacity_below_the_group_size_is_excluded() {
        let subject = MatchSubject::new(&[child(10), child(11)]).unwrap();
        let failing = Candidate {
            capacity: 1,
            ..household(2)
        };
        assert_excluded_under(&subject, failing, HardRule::Capacity);
    }

    #[test]
    fn a_group_with_a_household_not_accepting_siblings_is_excluded() {
        let subject = MatchSubject::new(&[child(10), child(11)]).unwrap();
        let failing = Candidate {
            accepts_siblings: false,
            ..household(2)
        };
        assert_excluded_under(&subject, failing.clone(), HardRule::SiblingsNotAccepted);
        // ...but a single child is not a sibling group.
        assert_eq!(ids(&run(&single(child(10)), &[failing])), vec![2]);
    }

    #[test]
    fn an_age_outside_the_accepted_range_is_excluded_counting_whole_months() {
        let subject = single(child(10)); // 36 months as of 2024-01-15
        for (min, max) in [(37, 96), (0, 35)] {
            let failing = Candidate {
                age_min_months: min,
                age_max_months: max,
                ..household(2)
            };
            assert_excluded_under(&subject, failing, HardRule::AgeRange);
        }
        // Born a day later, the child is still 35 months old.
        let younger = single(MatchChild {
            date_of_birth: d("2021-01-16"),
            ..child(10)
        });
        let failing = Candidate {
            age_min_months: 36,
            ..household(2)
        };
        assert_excluded_under(&younger, failing, HardRule::AgeRange);
        // The edges themselves are inside.
        let edge = Candidate {
            age_min_months: 36,
            age_max_months: 36,
            ..household(3)
        };
        assert_eq!(ids(&run(&subject, &[edge])), vec![3]);
    }

    #[test]
    fn a_need_above_what_the_household_accepts_is_excluded() {
        let subject = single(child(10)); // learning LOW
        let failing = Candidate {
            accepts: NeedLevels::from_ranks([3, 3, 0, 3, 3, 3]),
            ..household(2)
        };
        assert_excluded_under(&subject, failing, HardRule::Needs);
    }

    #[test]
    fn a_gender_preference_the_child_does_not_meet_is_excluded() {
        let girl = single(child(10));
        let failing = Candidate {
            gender_preference: GenderPreference::Male,
            ..household(2)
        };
        assert_excluded_under(&girl, failing, HardRule::GenderPreference);
        let boy = single(MatchChild {
            gender: Gender::Male,
            ..child(10)
        });
        let failing = Candidate {
            gender_preference: GenderPreference::Female,
            ..household(2)
        };
        assert_excluded_under(&boy, failing, HardRule::GenderPreference);
        // A matching preference passes.
        let wants_girl = Candidate {
            gender_preference: GenderPreference::Female,
            ..household(3)
        };
        assert_eq!(ids(&run(&girl, &[wants_girl])), vec![3]);
    }

    #[test]
    fn early_permanence_required_but_not_approved_is_excluded() {
        let subject = single(MatchChild {
            requires_early_permanence: true,
            ..child(10)
        });
        let approved = Candidate {
            early_permanence_approved: true,
            ..household(1)
        };
        let result = run(&subject, &[approved, household(2)]);
        assert_eq!(ids(&result), vec![1]);
        assert_eq!(
            result.excluded,
            vec![Exclusion {
                rule: HardRule::EarlyPermanence,
                count: 1
            }]
        );
    }

    #[test]
    fn closer_than_the_minimum_distance_or_unverifiable_is_excluded() {
        // 111 km away, the child's minimum is 150 km.
        let far_minimum = single(MatchChild {
            min_distance_km: Some(150.0),
            ..child(10)
        });
        let result = run(&far_minimum, &[household(2)]);
        assert_eq!(result.excluded[0].rule, HardRule::BirthFamilyDistance);
        // 10 km away with a 20 km minimum.
        let near = Candidate {
            location: Some(GeoPoint::new(52.09, -1.0)),
            ..household(2)
        };
        assert_excluded_under(&single(child(10)), near, HardRule::BirthFamilyDistance);
        // The household's location is not recorded: cannot be verified.
        let unknown = Candidate {
            location: None,
            ..household(2)
        };
        assert_excluded_under(&single(child(10)), unknown, HardRule::BirthFamilyDistance);
        // The birth family area is not recorded but a minimum is: nobody can be verified.
        let no_area = single(MatchChild {
            birth_family: None,
            ..child(10)
        });
        let result = run(&no_area, &[household(1), household(2)]);
        assert!(result.suggestions.is_empty());
        assert_eq!(result.excluded[0].count, 2);
        // No minimum set: a household next door and one without location are fine.
        let no_minimum = single(MatchChild {
            min_distance_km: None,
            ..child(10)
        });
        let next_door = Candidate {
            location: Some(AREA),
            ..household(1)
        };
        let unknown = Candidate {
            location: None,
            ..household(2)
        };
        assert_eq!(ids(&run(&no_minimum, &[next_door, unknown])), vec![1, 2]);
    }

    #[test]
    fn each_excluded_household_is_tallied_once_under_the_first_rule_it_fails() {
        let subject = MatchSubject::new(&[child(10), child(11)]).unwrap();
        let pool = vec![
            household(1),
            // Capacity, siblings, age and needs all fail: tallied under capacity.
            Candidate {
                capacity: 1,
                accepts_siblings: false,
                age_min_months: 60,
                accepts: NeedLevels::default(),
                ..household(2)
            },
            // Not available and already matched: tallied under not available.
            Candidate {
                available: false,
                already_matched: true,
                ..household(3)
            },
            // Age and needs: tallied under age range.
            Candidate {
                age_max_months: 12,
                accepts: NeedLevels::default(),
                ..household(4)
            },
            Candidate {
                age_max_months: 12,
                ..household(5)
            },
        ];
        let result = run(&subject, &pool);
        assert_eq!(
            result.excluded,
            vec![
                Exclusion {
                    rule: HardRule::NotAvailable,
                    count: 1
                },
                Exclusion {
                    rule: HardRule::Capacity,
                    count: 1
                },
                Exclusion {
                    rule: HardRule::AgeRange,
                    count: 2
                },
            ]
        );
        assert_eq!(result.excluded_total(), 4);
        assert_eq!(result.excluded_total() + result.eligible, result.pool_size);
    }

    // --- soft criteria ----------------------------------------------------------------

    /// `better` and `worse` differ in one input: `criterion` scores higher for `better`,
    /// every other criterion scores the same, and so does the total.
    fn assert_favours(
        subject: &MatchSubject,
        better: Candidate,
        worse: Candidate,
        which: Criterion,
    ) -> (f64, f64) {
        let (b, w) = (better.id, worse.id);
        let result = run(subject, &[worse, better]);
        assert_eq!(ids(&result), vec![b, w], "{which:?}");
        for c in Criterion::ALL {
            let (sb, sw) = (criterion(&result, b, c), criterion(&result, w, c));
            if c == which {
                assert!(sb > sw, "{c:?}: {sb} should beat {sw}");
            } else {
                assert_eq!(sb, sw, "{c:?} should not move");
            }
        }
        assert!(suggestion(&result, b).score > suggestion(&result, w).score);
        (criterion(&result, b, which), criterion(&result, w, which))
    }

    #[test]
    fn more_room_above_the_childs_needs_scores_higher() {
        let more = Candidate {
            accepts: NeedLevels::from_ranks([2, 2, 3, 2, 2, 2]),
            ..household(1)
        };
        let (b, w) = assert_favours(
            &single(child(10)),
            more,
            household(2),
            Criterion::NeedsHeadroom,
        );
        // Learning LOW, everything else NONE: (2+2+2+2+2+2 − 1) / 3 / 6 vs one more level.
        assert!((w - 11.0 / 18.0).abs() < 1e-12);
        assert!((b - 12.0 / 18.0).abs() < 1e-12);
    }

    #[test]
    fn an_age_nearer_the_centre_of_the_range_scores_higher() {
        let centred = Candidate {
            age_max_months: 72, // centre 36 = the child's age
            ..household(1)
        };
        let (b, w) = assert_favours(&single(child(10)), centred, household(2), Criterion::AgeFit);
        assert_eq!(b, 1.0);
        assert!((w - 0.75).abs() < 1e-12); // 1 − |36 − 48| / 48
    }

    #[test]
    fn meeting_more_identity_considerations_scores_higher() {
        let subject = single(MatchChild {
            religion: Some("MUSLIM".into()),
            language: Some(" arabic ".into()),
            culture: Some("".into()),
            ..child(10)
        });
        let meets_both = Candidate {
            religion: Some("Muslim".into()),
            languages: vec!["ENGLISH".into(), "ARABIC".into()],
            ..household(1)
        };
        let meets_language = Candidate {
            languages: vec!["ENGLISH".into(), "ARABIC".into()],
            ..household(2)
        };
        let (b, w) = assert_favours(&subject, meets_both, meets_language, Criterion::Identity);
        assert_eq!((b, w), (1.0, 0.5));
        // With nothing recorded every household meets the child's considerations.
        let result = run(&single(child(10)), &[household(1)]);
        assert_eq!(criterion(&result, 1, Criterion::Identity), 1.0);
    }

    #[test]
    fn a_nearer_household_scores_higher_for_contact_and_unknown_is_neutral() {
        // The birth family area's grid square spans about 51.64–52.09°N, 1.42–0.69°W.
        let near = Candidate {
            location: Some(GeoPoint::new(51.7, -0.75)), // about 37 km, same square
            ..household(1)
        };
        let far = Candidate {
            location: Some(GeoPoint::new(54.0, -1.0)), // about 222 km; squares 251 km apart
            ..household(2)
        };
        // No minimum: the same square is too close for any minimum (see the hard rule).
        let no_minimum = single(MatchChild {
            min_distance_km: None,
            ..child(10)
        });
        let (b, w) = assert_favours(&no_minimum, near, far, Criterion::Distance);
        assert_eq!((b, w), (1.0, 0.0));
        // 111 km, but the squares' centres are 152 km apart: the 150–200 km band, scored
        // at 175 km.
        let result = run(&single(child(10)), &[household(3)]);
        assert_eq!(criterion(&result, 3, Criterion::Distance), 0.375);
        assert_eq!(
            suggestion(&result, 3).criteria[3].reason,
            "about 150–200 km from the birth family area, for contact"
        );
        // Anywhere in one square is the same to the criterion: two households 45 km apart
        // in the same square score and read the same.
        let result = run(
            &no_minimum,
            &[
                Candidate {
                    location: Some(GeoPoint::new(52.12, -0.70)),
                    ..household(4)
                },
                Candidate {
                    location: Some(GeoPoint::new(52.50, -0.45)),
                    ..household(5)
                },
            ],
        );
        assert_eq!(
            suggestion(&result, 4).criteria[3],
            suggestion(&result, 5).criteria[3]
        );
        assert_eq!(suggestion(&result, 4).score, suggestion(&result, 5).score);

        let unknown = Candidate {
            location: None,
            ..household(3)
        };
        let result = run(&no_minimum, &[unknown]);
        assert_eq!(criterion(&result, 3, Criterion::Distance), 0.5);
    }

    #[test]
    fn a_longer_wait_since_approval_scores_higher_up_to_a_year() {
        let longer = Candidate {
            approved_on: Some(d("2023-07-15")), // 184 days
            ..household(1)
        };
        let shorter = Candidate {
            approved_on: Some(d("2023-10-15")), // 92 days
            ..household(2)
        };
        let (b, w) = assert_favours(&single(child(10)), longer, shorter, Criterion::WaitingTime);
        assert!((b - 184.0 / 365.0).abs() < 1e-12);
        assert!((w - 92.0 / 365.0).abs() < 1e-12);
        let result = run(&single(child(10)), &[household(3)]); // exactly 365 days
        assert_eq!(criterion(&result, 3, Criterion::WaitingTime), 1.0);
    }

    #[test]
    fn a_household_of_the_childs_own_authority_scores_higher_on_same_authority() {
        let other = Candidate {
            authority_id: 2,
            ..household(2)
        };
        let (b, w) = assert_favours(
            &single(child(10)),
            household(1),
            other,
            Criterion::SameAuthority,
        );
        assert_eq!((b, w), (1.0, 0.0));
    }

    // --- ethnicity --------------------------------------------------------------------

    #[test]
    fn ethnicity_is_not_an_input_so_it_can_neither_exclude_nor_lower_a_score() {
        // Every field matching reads, spelled out without `..`: a new field (an ethnicity
        // among them) does not compile until it is listed here, and whoever adds one must
        // show below that it changes no outcome. Ethnicity must never become a rule or
        // lower a score (DESIGN §4).
        let MatchChild {
            id: _,
            authority_id: _,
            date_of_birth: _,
            gender: _,
            needs: _,
            requires_early_permanence: _,
            religion: _,
            language: _,
            culture: _,
            birth_family: _,
            min_distance_km: _,
            waiting_since: _,
        } = child(10);
        let Candidate {
            id: _,
            authority_id: _,
            approved: _,
            approved_on: _,
            available: _,
            already_matched: _,
            capacity: _,
            age_min_months: _,
            age_max_months: _,
            accepts: _,
            accepts_siblings: _,
            gender_preference: _,
            early_permanence_approved: _,
            religion: _,
            languages: _,
            culture: _,
            location: _,
        } = household(1);
        // The identity criterion reads only religion, language and culture codes: a child
        // whose only recorded consideration is a culture code is met by a household with
        // that culture code, whatever else differs.
        let subject = single(MatchChild {
            culture: Some("TRAVELLER".into()),
            ..child(10)
        });
        let same_culture = Candidate {
            culture: Some("TRAVELLER".into()),
            ..household(1)
        };
        let result = run(&subject, &[same_culture]);
        assert_eq!(criterion(&result, 1, Criterion::Identity), 1.0);
    }

    // --- sibling groups ---------------------------------------------------------------

    #[test]
    fn a_sibling_group_is_matched_as_one_unit() {
        let older_brother = MatchChild {
            date_of_birth: d("2018-01-15"), // 72 months
            gender: Gender::Male,
            needs: NeedLevels {
                emotional_behavioural: NeedLevel::High,
                ..Default::default()
            },
            min_distance_km: Some(150.0),
            waiting_since: Some(d("2023-03-01")),
            ..child(11)
        };
        let mut younger_sister = child(12); // 36 months
        younger_sister.min_distance_km = Some(20.0);
        let group = MatchSubject::new(&[younger_sister, older_brother]).unwrap();
        assert_eq!(group.child_ids(), &[11, 12]);
        assert_eq!(group.size(), 2);
        assert_eq!(group.ages_months(as_of()), (36, 72));
        assert_eq!(group.needs().ranks(), [0, 0, 1, 0, 3, 0]);
        assert_eq!(group.waiting_since(), Some(d("2023-03-01")));

        let fits = Candidate {
            age_min_months: 24,
            accepts: NeedLevels::from_ranks([3; 6]),
            location: Some(GeoPoint::new(54.0, -1.0)), // 222 km: beyond both minimums
            ..household(1)
        };
        let cases = [
            (
                Candidate {
                    age_max_months: 60,
                    ..fits.clone()
                },
                HardRule::AgeRange,
            ),
            (
                Candidate {
                    age_min_months: 48,
                    ..fits.clone()
                },
                HardRule::AgeRange,
            ),
            (
                Candidate {
                    accepts: NeedLevels::from_ranks([3, 3, 3, 3, 2, 3]),
                    ..fits.clone()
                },
                HardRule::Needs,
            ),
            (
                Candidate {
                    capacity: 1,
                    ..fits.clone()
                },
                HardRule::Capacity,
            ),
            (
                Candidate {
                    accepts_siblings: false,
                    ..fits.clone()
                },
                HardRule::SiblingsNotAccepted,
            ),
            (
                Candidate {
                    gender_preference: GenderPreference::Female,
                    ..fits.clone()
                },
                HardRule::GenderPreference,
            ),
            // 111 km: beyond the sister's 20 km, within the brother's 150 km.
            (
                Candidate {
                    location: Some(GeoPoint::new(53.0, -1.0)),
                    ..fits.clone()
                },
                HardRule::BirthFamilyDistance,
            ),
        ];
        for (failing, rule) in cases {
            let failing = Candidate { id: 2, ..failing };
            let result = run(&group, &[fits.clone(), failing]);
            assert_eq!(ids(&result), vec![1], "{rule:?}");
            assert_eq!(result.excluded, vec![Exclusion { rule, count: 1 }]);
            assert_eq!(result.suggestions[0].child_ids, vec![11, 12]);
        }
        // The age fit is that of the child furthest from the centre (24–96: centre 60).
        let result = run(&group, &[fits]);
        assert!((criterion(&result, 1, Criterion::AgeFit) - (1.0 - 24.0 / 36.0)).abs() < 1e-12);
    }

    #[test]
    fn a_subject_needs_children_of_one_authority_each_once() {
        assert_eq!(MatchSubject::new(&[]), Err(SubjectError::Empty));
        let elsewhere = MatchChild {
            authority_id: 2,
            ..child(11)
        };
        assert_eq!(
            MatchSubject::new(&[child(10), elsewhere]),
            Err(SubjectError::MixedAuthorities)
        );
        assert_eq!(
            MatchSubject::new(&[child(10), child(10)]),
            Err(SubjectError::DuplicateChild)
        );
    }

    // --- ordering ---------------------------------------------------------------------

    #[test]
    fn ties_are_broken_by_longest_wait_then_household_id() {
        // Everyone approved over a year ago, so waiting time scores 1 for all: equal scores.
        let approved = |id, on: &str| Candidate {
            approved_on: Some(d(on)),
            ..household(id)
        };
        let pool = [
            approved(5, "2022-12-01"),
            Candidate {
                approved_on: None,
                ..household(1)
            },
            approved(3, "2022-12-01"),
            approved(4, "2022-06-01"),
        ];
        let result = run(&single(child(10)), &pool);
        let scores: Vec<f64> = result.suggestions.iter().map(|s| s.score).collect();
        // The household without an approval date scores 0 on waiting: last.
        assert_eq!(ids(&result), vec![4, 3, 5, 1]);
        assert_eq!(scores[0], scores[1]);
        assert_eq!(scores[1], scores[2]);
        assert!(scores[3] < scores[2]);
        // Same answer whatever the input order.
        let mut reversed = pool.to_vec();
        reversed.reverse();
        assert_eq!(ids(&run(&single(child(10)), &reversed)), vec![4, 3, 5, 1]);
    }

    #[test]
    fn first_keeps_exactly_the_best_of_a_full_sort() {
        // A varied pool from a small deterministic generator.
        let mut seed: u64 = 42;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let pool: Vec<Candidate> = (0..500)
            .map(|id| Candidate {
                authority_id: 1 + next(3) as i64,
                approved_on: Some(d("2022-01-01") + chrono::Days::new(next(700))),
                age_min_months: next(30) as i32,
                age_max_months: 36 + next(60) as i32,
                accepts: NeedLevels::from_ranks([1 + next(3) as i16; 6]),
                location: Some(GeoPoint::new(52.2 + next(30) as f64 / 10.0, -1.0)),
                capacity: next(3) as i16,
                ..household(id)
            })
            .collect();
        let subject = single(child(10));
        let all = run(&subject, &pool);
        assert!(all.eligible > 50 && all.excluded_total() > 0);
        for first in [0, 1, 7, 50, all.eligible as usize, 10_000] {
            let top = evaluate(&subject, &pool, &ValidWeights::default(), as_of(), first);
            let n = first.min(all.suggestions.len());
            assert_eq!(
                top.suggestions,
                all.suggestions[..n].to_vec(),
                "first {first}"
            );
            assert_eq!((top.eligible, &top.excluded), (all.eligible, &all.excluded));
        }
    }

    #[test]
    fn children_for_a_household_follow_the_same_rules_longest_waiting_first() {
        let h = household(1);
        let waiting_since = |id, on: &str| MatchChild {
            waiting_since: Some(d(on)),
            ..child(id)
        };
        let subjects = vec![
            single(waiting_since(14, "2023-06-01")),
            single(MatchChild {
                date_of_birth: d("2014-01-15"), // 120 months: too old
                ..child(12)
            }),
            single(waiting_since(13, "2023-06-01")),
            single(child(15)).with_declined([1]),
            single(waiting_since(16, "2022-01-01")),
        ];
        let result = evaluate_children(&h, &subjects, &ValidWeights::default(), as_of(), 10);
        let order: Vec<Vec<i64>> = result
            .suggestions
            .iter()
            .map(|s| s.child_ids.clone())
            .collect();
        assert_eq!(order, vec![vec![16], vec![13], vec![14]]);
        assert_eq!(
            result.excluded,
            vec![
                Exclusion {
                    rule: HardRule::Declined,
                    count: 1
                },
                Exclusion {
                    rule: HardRule::AgeRange,
                    count: 1
                },
            ]
        );
        assert_eq!(result.pool_size, 5);
        // The same pair gets the same verdict, score and reasons from either side.
        let forward = run(&subjects[0], std::slice::from_ref(&h));
        assert_eq!(forward.suggestions[0], result.suggestions[2]);
    }

    // --- weights ----------------------------------------------------------------------

    #[test]
    fn weight_overrides_change_the_ranking() {
        let roomy_elsewhere = Candidate {
            authority_id: 2,
            accepts: NeedLevels::from_ranks([3; 6]),
            ..household(1)
        };
        let in_house = household(2);
        let pool = [in_house, roomy_elsewhere];
        let subject = single(child(10));
        assert_eq!(ids(&run(&subject, &pool)), vec![1, 2]);

        let in_house_first = Weights::default()
            .with(Criterion::NeedsHeadroom, 0.0)
            .with(Criterion::SameAuthority, 5.0)
            .validate()
            .unwrap();
        let result = evaluate(&subject, &pool, &in_house_first, as_of(), 10);
        assert_eq!(ids(&result), vec![2, 1]);
        // A zero weight is still listed, with its score and reason.
        let needs = &result.suggestions[0].criteria[0];
        assert_eq!(
            (needs.criterion, needs.weight),
            (Criterion::NeedsHeadroom, 0.0)
        );
        assert!(needs.reason.contains("headroom"));
    }

    #[test]
    fn invalid_weights_are_refused_naming_the_field() {
        let refused = |w: Weights| w.validate().unwrap_err().field;
        assert_eq!(
            refused(Weights::default().with(Criterion::NeedsHeadroom, -1.0)),
            "needsHeadroom"
        );
        assert_eq!(
            refused(Weights::default().with(Criterion::Distance, f64::NAN)),
            "distance"
        );
        assert_eq!(
            refused(Weights::default().with(Criterion::WaitingTime, f64::INFINITY)),
            "waitingTime"
        );
        let zero = Criterion::ALL
            .iter()
            .fold(Weights::default(), |w, c| w.with(*c, 0.0));
        assert_eq!(refused(zero), "weights");
        assert_eq!(
            Weights::default().validate().unwrap(),
            ValidWeights::default()
        );
    }

    // --- a worked example -------------------------------------------------------------

    #[test]
    fn a_hand_worked_example_of_three_households() {
        // Child of authority 1, 48 months old as of 2024-01-15, learning LOW and
        // emotional/behavioural MEDIUM, religion CHRISTIAN and language POLISH recorded,
        // birth family at 52°N 1°W with no minimum distance. Default weights
        // 3 + 2 + 2 + 1 + 1 + 0.5 = 9.5.
        let subject = single(MatchChild {
            date_of_birth: d("2020-01-15"),
            needs: NeedLevels {
                learning: NeedLevel::Low,
                emotional_behavioural: NeedLevel::Medium,
                ..Default::default()
            },
            religion: Some("CHRISTIAN".into()),
            language: Some("POLISH".into()),
            min_distance_km: None,
            ..child(10)
        });
        let one_degree_km = EARTH_RADIUS_KM * 1f64.to_radians(); // ≈ 111.195 km

        // H1: same authority, approved 365 days ago (waiting 1); accepts MEDIUM
        // everywhere: headroom (2+2+1+2+0+2)/3/6 = 0.5; range 0–96, centre 48: age fit 1;
        // religion and language met: identity 1; 1° north ≈ 111.195 km, but the grid
        // squares' centres are 152 km apart: the 150–200 km band, distance 0.375.
        // Score = 100 × (3·0.5 + 2·1 + 2·1 + 1·0.375 + 1·1 + 0.5·1) / 9.5 ≈ 77.63 → 77.6.
        let h1 = Candidate {
            religion: Some("CHRISTIAN".into()),
            languages: vec!["ENGLISH".into(), "POLISH".into()],
            ..household(1)
        };
        assert!((one_degree_km - 111.195).abs() < 1e-3);
        let h1_score = 100.0 * (1.5 + 2.0 + 2.0 + 0.375 + 1.0 + 0.5) / 9.5;

        // H2: another authority (0), approved 2023-07-15: 184 days, 184/365; accepts HIGH
        // everywhere: headroom (3+3+2+3+1+3)/3/6 = 15/18; range 24–60, centre 42, half 18:
        // 1 − 6/18 = 2/3; language met, religion not: 1/2; no location: 0.5.
        // Score = 100 × (3·15/18 + 2·2/3 + 2·0.5 + 1·0.5 + 184/365 + 0.5·0) / 9.5 ≈ 61.45
        // → 61.4.
        let h2 = Candidate {
            authority_id: 2,
            approved_on: Some(d("2023-07-15")),
            age_min_months: 24,
            age_max_months: 60,
            accepts: NeedLevels::from_ranks([3; 6]),
            languages: vec!["POLISH".into()],
            location: None,
            ..household(2)
        };
        let h2_score = 100.0 * (2.5 + 4.0 / 3.0 + 1.0 + 0.5 + 184.0 / 365.0 + 0.0) / 9.5;

        // H3: same authority, approved 2022-01-15: 730 days, capped at 1; accepts LOW
        // except emotional/behavioural MEDIUM: headroom (1+1+0+1+0+1)/3/6 = 4/18; range
        // 36–84, centre 60, half 24: 1 − 12/24 = 0.5; religion met, language not: 1/2;
        // 0.2° north ≈ 22 km, in the next grid square north, 55 km between centres:
        // 50–100 km, 0.875.
        // Score = 100 × (3·4/18 + 2·0.5 + 2·0.5 + 1·0.875 + 1·1 + 0.5·1) / 9.5 ≈ 53.07
        // → 53.1.
        let h3 = Candidate {
            approved_on: Some(d("2022-01-15")),
            age_min_months: 36,
            age_max_months: 84,
            accepts: NeedLevels::from_ranks([1, 1, 1, 1, 2, 1]),
            religion: Some("CHRISTIAN".into()),
            location: Some(GeoPoint::new(52.2, -1.0)),
            ..household(3)
        };
        let h3_score = 100.0 * (12.0 / 18.0 + 1.0 + 1.0 + 0.875 + 1.0 + 0.5) / 9.5;

        let result = run(&subject, &[h3, h2, h1]);
        assert_eq!(ids(&result), vec![1, 2, 3]);
        assert_eq!((result.pool_size, result.eligible), (3, 3));
        for (id, exact, shown) in [
            (1, h1_score, 77.6_f64),
            (2, h2_score, 61.4),
            (3, h3_score, 53.1),
        ] {
            assert!(
                (exact - shown).abs() < 0.05,
                "H{id}: {exact} rounds to {shown}"
            );
            assert_eq!(suggestion(&result, id).score, shown, "H{id}");
        }

        let reasons: Vec<&str> = result.suggestions[1]
            .criteria
            .iter()
            .map(|c| c.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            vec![
                "average headroom 2.50 levels; least in emotional/behavioural needs: \
                 accepts up to HIGH, child's highest is MEDIUM (headroom 1 level)",
                "accepts 24–60 months; child is 48 months, 6 months from the centre of the range",
                "meets 1 of 2 identity considerations (religion 0/1, language 1/1)",
                "household location not recorded; neutral score",
                "approved 184 days ago (full score from 365 days)",
                "another authority (cross-boundary)",
            ]
        );
    }

    // --- what a caller can learn of another authority's locations ---------------------

    /// Weights isolating the distance criterion, as a caller may set them per query.
    fn distance_only() -> ValidWeights {
        Criterion::ALL
            .iter()
            .fold(Weights::default(), |w, c| {
                w.with(*c, if *c == Criterion::Distance { 1.0 } else { 0.0 })
            })
            .validate()
            .unwrap()
    }

    /// What a caller reads of a suggestion that could depend on a location: the score and
    /// the distance criterion's score and reason.
    fn observed(result: &MatchResult) -> Option<(f64, f64, String)> {
        let s = result.suggestions.first()?;
        let d = s
            .criteria
            .iter()
            .find(|c| c.criterion == Criterion::Distance)?;
        Some((s.score, d.score, d.reason.clone()))
    }

    /// Points every `step` degrees within `lat_span` and `lon_span` degrees of `centre`,
    /// `centre` itself among them.
    fn around(centre: GeoPoint, lat_span: f64, lon_span: f64, step: f64) -> Vec<GeoPoint> {
        let (n, m) = ((lat_span / step) as i32, (lon_span / step) as i32);
        (-n..=n)
            .flat_map(|i| {
                (-m..=m).map(move |j| {
                    GeoPoint::new(
                        centre.lat + f64::from(i) * step,
                        centre.lon + f64::from(j) * step,
                    )
                })
            })
            .collect()
    }

    /// North–south and east–west extent (km) of a set of points.
    fn extent_km(points: &[GeoPoint]) -> (f64, f64) {
        let lats = points.iter().map(|p| p.lat);
        let lons = points.iter().map(|p| p.lon);
        let span = |it: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = it.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
            hi - lo
        };
        let lat = span(&mut lats.clone());
        let mid = points.iter().map(|p| p.lat).sum::<f64>() / points.len() as f64;
        let lon = span(&mut lons.clone());
        (
            EARTH_RADIUS_KM * lat.to_radians(),
            EARTH_RADIUS_KM * lon.to_radians() * mid.to_radians().cos(),
        )
    }

    /// Every position of the hidden record consistent with all the answers the caller got
    /// (`answer(reference, position, weights)`), searched every 0.02° around `hidden`.
    fn consistent_positions(
        hidden: GeoPoint,
        references: &[GeoPoint],
        answer: impl Fn(GeoPoint, GeoPoint, &ValidWeights) -> Option<(f64, f64, String)>,
    ) -> Vec<GeoPoint> {
        let weights = [distance_only(), ValidWeights::default()];
        let seen: Vec<_> = references
            .iter()
            .flat_map(|r| weights.iter().map(|w| answer(*r, hidden, w)))
            .collect();
        assert!(seen.iter().all(Option::is_some), "every pair suggested");
        around(hidden, 0.9, 1.4, 0.02)
            .into_iter()
            .filter(|x| {
                references
                    .iter()
                    .flat_map(|r| weights.iter().map(|w| (*r, w)))
                    .zip(&seen)
                    .all(|((r, w), seen)| answer(r, *x, w) == *seen)
            })
            .collect()
    }

    /// Own references: 49 points on a 7 × 7 grid, 0.3° of latitude and 0.45° of longitude
    /// apart, around (not on) the hidden position.
    fn references(hidden: GeoPoint) -> Vec<GeoPoint> {
        let origin = GeoPoint::new(hidden.lat + 0.07, hidden.lon - 0.11);
        (-3..=3)
            .flat_map(|i| {
                (-3..=3).map(move |j| {
                    GeoPoint::new(
                        origin.lat + f64::from(i) * 0.3,
                        origin.lon + f64::from(j) * 0.45,
                    )
                })
            })
            .collect()
    }

    #[test]
    fn suggestions_for_many_own_children_locate_another_authoritys_household_no_finer_than_a_band()
    {
        // A household of authority 2; the caller (authority 1) asks for households for 49
        // of its own children whose birth family areas it knows, with the default weights
        // and with distance alone weighted.
        let hidden = GeoPoint::new(52.33, -1.27);
        let answer = |area: GeoPoint, at: GeoPoint, weights: &ValidWeights| {
            let own = single(MatchChild {
                birth_family: Some(area),
                min_distance_km: None,
                ..child(10)
            });
            let other = Candidate {
                authority_id: 2,
                location: Some(at),
                ..household(1)
            };
            observed(&evaluate(&own, &[other], weights, as_of(), 1))
        };
        let region = consistent_positions(hidden, &references(hidden), answer);
        assert!(region.contains(&hidden));
        // A 50 km band each way at least (less twice the 0.02° search step, 4.4 km), where
        // exact scores left the hidden position alone.
        let (north_south, east_west) = extent_km(&region);
        assert!(north_south >= 45.0, "{north_south} km north–south");
        assert!(east_west >= 45.0, "{east_west} km east–west");
    }

    #[test]
    fn suggestions_for_many_own_households_locate_another_authoritys_birth_family_no_finer_than_a_band()
     {
        // A child of authority 2 whose birth family area is never shown across
        // authorities; the caller asks for children for 49 of its own households.
        let hidden = GeoPoint::new(51.87, -2.04);
        let answer = |own_at: GeoPoint, area: GeoPoint, weights: &ValidWeights| {
            let other = single(MatchChild {
                authority_id: 2,
                birth_family: Some(area),
                min_distance_km: None,
                ..child(10)
            });
            let own = Candidate {
                location: Some(own_at),
                ..household(1)
            };
            observed(&evaluate_children(&own, &[other], weights, as_of(), 1))
        };
        let region = consistent_positions(hidden, &references(hidden), answer);
        assert!(region.contains(&hidden));
        let (north_south, east_west) = extent_km(&region);
        assert!(north_south >= 45.0, "{north_south} km north–south");
        assert!(east_west >= 45.0, "{east_west} km east–west");
    }

    /// Every position (searched every 0.02° around `hidden`) at which the hidden record
    /// gives the caller the same answer to every one of `asked` as it did at `hidden`.
    fn replay<Q, A: PartialEq>(
        hidden: GeoPoint,
        asked: &[Q],
        answer: impl Fn(&Q, GeoPoint) -> A,
    ) -> Vec<GeoPoint> {
        let seen: Vec<A> = asked.iter().map(|q| answer(q, hidden)).collect();
        around(hidden, 0.9, 1.4, 0.02)
            .into_iter()
            .filter(|x| {
                asked
                    .iter()
                    .zip(&seen)
                    .all(|(q, seen)| answer(q, *x) == *seen)
            })
            .collect()
    }

    /// What a caller reads of the hard rules when `evaluate` puts `own` against the one
    /// `other` (default weights, no suggestions asked): the eligible count and the
    /// exclusion tally.
    fn exclusions<O, S>(
        evaluate: impl Fn(&O, &[S], &ValidWeights, NaiveDate, usize) -> MatchResult,
        own: &O,
        other: S,
    ) -> (u64, Vec<Exclusion>) {
        let result = evaluate(own, &[other], &ValidWeights::default(), as_of(), 0);
        (result.eligible, result.excluded)
    }

    /// Asserts that the answers to `asked` (both outcomes among them) leave `hidden`
    /// anywhere in a 50 km square at least (less twice the 0.02° search step), where the
    /// exact rule left a region of a few km.
    fn assert_located_no_finer_than_a_square<Q>(
        hidden: GeoPoint,
        asked: &[Q],
        answer: impl Fn(&Q, GeoPoint) -> (u64, Vec<Exclusion>),
    ) {
        let outcomes: HashSet<u64> = asked.iter().map(|q| answer(q, hidden).0).collect();
        assert_eq!(outcomes.len(), 2, "both excluded and suggested were seen");
        let region = replay(hidden, asked, answer);
        assert!(region.contains(&hidden));
        let (north_south, east_west) = extent_km(&region);
        assert!(north_south >= 45.0, "{north_south} km north–south");
        assert!(east_west >= 45.0, "{east_west} km east–west");
    }

    #[test]
    fn minimum_distance_exclusions_locate_another_authoritys_household_no_finer_than_a_square() {
        // A household of authority 2. The caller gives an own child, one at a time, each
        // of 9 birth family areas around it and every minimum from 0 to 400 km in 1 km
        // steps, then moves an own child's area (minimum 40 km) in 0.01° steps along a
        // meridian and a parallel near it, and each time reads whether it is excluded.
        let hidden = GeoPoint::new(52.33, -1.27);
        let mut asked: Vec<MatchSubject> = Vec::new();
        let origin = GeoPoint::new(hidden.lat + 0.07, hidden.lon - 0.11);
        for i in -1..=1 {
            for j in -1..=1 {
                let area = GeoPoint::new(
                    origin.lat + f64::from(i) * 0.3,
                    origin.lon + f64::from(j) * 0.45,
                );
                for km in 0..=400 {
                    asked.push(single(MatchChild {
                        birth_family: Some(area),
                        min_distance_km: Some(f64::from(km)),
                        ..child(10)
                    }));
                }
            }
        }
        let moved = |lat: f64, lon: f64| {
            single(MatchChild {
                birth_family: Some(GeoPoint::new(lat, lon)),
                min_distance_km: Some(40.0),
                ..child(10)
            })
        };
        asked.extend((-60..=60).map(|i| moved(origin.lat + f64::from(i) * 0.01, origin.lon)));
        asked.extend((-90..=90).map(|j| moved(origin.lat, origin.lon + f64::from(j) * 0.01)));
        let other = household(1);
        let answer = |own: &MatchSubject, at: GeoPoint| {
            let other = Candidate {
                authority_id: 2,
                location: Some(at),
                ..other.clone()
            };
            exclusions(evaluate::<Candidate>, own, other)
        };
        assert_located_no_finer_than_a_square(hidden, &asked, answer);
    }

    #[test]
    fn minimum_distance_exclusions_locate_another_authoritys_birth_family_no_finer_than_a_square() {
        // A child of authority 2 whose birth family area is hidden and whose minimum
        // (60 km) the caller is assumed to know; the caller moves an own household in
        // 0.01° steps along 3 meridians and 3 parallels near it and reads whether the child
        // is excluded.
        let hidden = GeoPoint::new(51.87, -2.04);
        let mut asked: Vec<Candidate> = Vec::new();
        let origin = GeoPoint::new(hidden.lat + 0.07, hidden.lon - 0.11);
        for k in -1..=1 {
            let (lat, lon) = (
                origin.lat + f64::from(k) * 0.2,
                origin.lon + f64::from(k) * 0.3,
            );
            for i in -150..=150 {
                let step = f64::from(i) * 0.01;
                for at in [
                    GeoPoint::new(lat + step, origin.lon),
                    GeoPoint::new(origin.lat, lon + 1.5 * step),
                ] {
                    asked.push(Candidate {
                        location: Some(at),
                        ..household(1)
                    });
                }
            }
        }
        let answer = |own: &Candidate, area: GeoPoint| {
            let other = single(MatchChild {
                authority_id: 2,
                birth_family: Some(area),
                min_distance_km: Some(60.0),
                ..child(10)
            });
            exclusions(evaluate_children, own, other)
        };
        assert_located_no_finer_than_a_square(hidden, &asked, answer);
    }

    #[test]
    fn the_minimum_distance_on_squares_never_admits_a_household_truly_too_close() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20240115);
        let (mut admitted, mut excluded_far_enough) = (0, 0);
        for n in 0..20_000 {
            // Anywhere, a fifth of the areas at the antimeridian; households up to about
            // 700 km away; minimums up to 800 km.
            let lat = rng.random_range(-89.5..89.5);
            let lon = if n % 5 == 0 {
                rng.random_range(178.0..180.0) * if n % 2 == 0 { 1.0 } else { -1.0 }
            } else {
                rng.random_range(-180.0..180.0)
            };
            let area = GeoPoint::new(lat, lon);
            let reach = 6.0 / f64::cos(f64::to_radians(lat)).max(0.05);
            let mut other_lon = lon + rng.random_range(-reach..reach);
            if other_lon >= 180.0 {
                other_lon -= 360.0;
            } else if other_lon < -180.0 {
                other_lon += 360.0;
            }
            let at = GeoPoint::new(
                (lat + rng.random_range(-6.0..6.0)).clamp(-90.0, 90.0),
                other_lon,
            );
            let min = rng.random_range(1.0..800.0);
            let true_km = area.distance_km(at);
            assert!(
                area.cell().min_distance_km(at.cell()) <= true_km,
                "{area:?} {at:?}"
            );
            let subject = single(MatchChild {
                birth_family: Some(area),
                min_distance_km: Some(min),
                ..child(10)
            });
            let household = Candidate {
                location: Some(at),
                ..household(1)
            };
            let result = run(&subject, &[household]);
            if result.eligible == 1 {
                admitted += 1;
                assert!(true_km >= min, "{area:?} {at:?}: {true_km} km < {min} km");
            } else if true_km >= min {
                excluded_far_enough += 1;
            }
        }
        // Not vacuous: many pairs are admitted, and the price is visible.
        assert!(admitted > 5_000, "{admitted} admitted");
        assert!(excluded_far_enough > 0);
    }

    #[test]
    fn the_minimum_distance_on_squares_excludes_neighbouring_squares_and_admits_beyond() {
        // Birth family area at 52°N 1°W (row 315: 51.64°–52.09°N), minimum 20 km.
        let subject = single(child(10));
        let at = |lat: f64, lon: f64| Candidate {
            id: 2,
            location: Some(GeoPoint::new(lat, lon)),
            ..household(2)
        };
        // 40 km north, in the row above: too close on the squares though far enough.
        assert_excluded_under(&subject, at(52.36, -1.0), HardRule::BirthFamilyDistance);
        // 55 km north, in the next row still: excluded.
        assert_excluded_under(&subject, at(52.5, -1.0), HardRule::BirthFamilyDistance);
        // Two rows up (at least 50 km between the squares): admitted.
        let result = run(&subject, &[at(52.9, -1.0)]);
        assert_eq!(result.eligible, 1);
        // The same square, the same or touching squares: the least distance is 0.
        let cell = AREA.cell();
        assert_eq!(cell.min_distance_km(cell), 0.0);
        assert_eq!(cell.min_distance_km(GeoPoint::new(52.5, -1.0).cell()), 0.0);
        // Across the antimeridian, squares either side touch.
        let east = GeoPoint::new(0.1, 179.99).cell();
        let west = GeoPoint::new(0.1, -179.99).cell();
        assert_eq!(east.min_distance_km(west), 0.0);
        // Three rows apart: two rows of 50 km between them.
        let far = GeoPoint::new(53.3, -1.0).cell();
        let km = cell.min_distance_km(far);
        assert!((km - 2.0 * LOCATION_CELL_KM).abs() < 0.01, "{km}");
    }

    #[test]
    fn scores_equal_in_exact_arithmetic_tie_despite_float_rounding_noise() {
        // Default weights. A: headroom 0 levels (0), ages 0–54 (centre 27, fit 1 − 9/27 = 2/3);
        // B: headroom 1 level (1/18), ages 2–50 (centre 26, fit 1 − 10/24 = 7/12).
        // 3·0 + 2·2/3 = 4/3 = 3·1/18 + 2·7/12: equal scores, 61.40 in exact arithmetic,
        // though the float sums differ in the last bit (A's is the larger). Both waited
        // over a year (waiting time 1); B longer: B first.
        let subject = single(MatchChild {
            min_distance_km: None,
            ..child(10)
        });
        let at = |id, on: &str, ranks, min, max| Candidate {
            approved_on: Some(d(on)),
            accepts: NeedLevels::from_ranks(ranks),
            age_min_months: min,
            age_max_months: max,
            location: Some(GeoPoint::new(51.7, -0.75)),
            ..household(id)
        };
        let a = at(1, "2022-12-01", [0, 0, 1, 0, 0, 0], 0, 54);
        let b = at(2, "2022-06-01", [1, 0, 1, 0, 0, 0], 2, 50);
        for pool in [[a.clone(), b.clone()], [b, a]] {
            let result = run(&subject, &pool);
            assert_eq!(ids(&result), vec![2, 1]);
            assert_eq!(result.suggestions[0].score, 61.4);
            assert_eq!(result.suggestions[1].score, 61.4);
        }
        let steps = |exact: f64| score_steps(exact) as f64 / 10.0;
        assert_eq!(
            (
                steps(61.449_999_999_999_99),
                steps(61.45),
                steps(61.450_000_000_000_01)
            ),
            (61.5, 61.5, 61.5)
        );
        assert_eq!((steps(0.0), steps(100.0), steps(0.049)), (0.0, 100.0, 0.0));
    }

    #[test]
    fn haversine_gives_known_distances() {
        let london = GeoPoint::new(51.5074, -0.1278);
        let paris = GeoPoint::new(48.8566, 2.3522);
        let km = london.distance_km(paris);
        assert!((km - 343.5).abs() < 1.0, "{km}");
        assert_eq!(london.distance_km(london), 0.0);
        assert!((paris.distance_km(london) - km).abs() < 1e-9);
        assert!(
            (GeoPoint::new(0.0, 0.0).distance_km(GeoPoint::new(0.0, 180.0))
                - EARTH_RADIUS_KM * std::f64::consts::PI)
                .abs()
                < 1e-6
        );
        assert_eq!(
            split_languages(Some(" ENGLISH, ,POLISH ")),
            vec!["ENGLISH".to_owned(), "POLISH".to_owned()]
        );
    }
}
