//! The closed vocabularies of the domain. Each is stored as its SCREAMING_SNAKE_CASE code
//! and exposed in GraphQL under the same name.
//!
//! One mechanism for all of them, [`coded!`]: it derives the GraphQL enum, the code (strum)
//! and a sea-orm value type stored as that code (`DeriveValueType` on a string column), so
//! store filters compare a column with the enum (`C::Stage.eq(Stage::Approved)`) and rows
//! the store reads with its own queries carry the enum. The entity crate's columns stay
//! `String` (the entities know nothing of the domain): a row read as an entity model is
//! turned into codes with `from_code`, and written with `code()`. The stored strings are
//! the codes as they always were, so the schema and the data are unchanged.

/// Declares a closed vocabulary: a copyable enum whose GraphQL name, stored code and
/// sea-orm value are its SCREAMING_SNAKE_CASE variant name (or the `strum`/`graphql` name
/// given to a variant).
macro_rules! coded {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            async_graphql::Enum,
            strum::EnumString, strum::IntoStaticStr, strum::EnumIter, strum::Display,
            sea_orm::DeriveValueType,
        )]
        #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
        #[sea_orm(value_type = "String")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The stored code, e.g. `STAGE_ONE_STARTED`.
            pub fn code(self) -> &'static str {
                self.into()
            }

            /// Parses a stored code.
            pub fn from_code(code: &str) -> Option<Self> {
                code.parse().ok()
            }
        }

        impl $crate::domain::codes::Coded for $name {
            const TYPE_NAME: &'static str = stringify!($name);

            fn code(self) -> &'static str {
                $name::code(self)
            }

            fn from_code(code: &str) -> Option<Self> {
                $name::from_code(code)
            }
        }
    };
}

/// What every [`coded!`] vocabulary offers, for code written once over all of them (the
/// CSV export's parameters and columns).
pub trait Coded: Copy + Sized + 'static {
    /// The vocabulary's name, as the GraphQL schema names its enum.
    const TYPE_NAME: &'static str;
    /// The code, e.g. `STAGE_ONE_STARTED`: the stored value and the GraphQL name.
    fn code(self) -> &'static str;
    /// Parses a code.
    fn from_code(code: &str) -> Option<Self>;
}
pub(crate) use coded;

coded! {
    /// A role, held per authority (or, for the consortium roles, across the consortium).
    pub enum Role {
        SocialWorker,
        FamilyFinder,
        RecruitmentOfficer,
        DecisionMaker,
        Manager,
        BoardAnalyst,
        ConsortiumAdmin,
    }
}

coded! {
    /// What kind of member an authority is.
    pub enum AuthorityKind {
        LocalAuthority,
        VoluntaryAgency,
    }
}

coded! {
    /// A child's recorded gender.
    pub enum Gender {
        Female,
        Male,
        Other,
    }
}

coded! {
    /// A household's preference as to the gender of the child.
    pub enum GenderPreference {
        Any,
        Female,
        Male,
    }
}

coded! {
    /// Ethnicity at the level used in statistical returns. Never a matching rule.
    pub enum Ethnicity {
        WhiteBritish,
        WhiteOther,
        Mixed,
        Asian,
        Black,
        Other,
        NotRecorded,
    }
}

impl Ethnicity {
    /// Whether the category counts as an ethnic minority in sufficiency figures.
    pub fn is_minority(self) -> bool {
        !matches!(self, Ethnicity::WhiteBritish | Ethnicity::NotRecorded)
    }
}

coded! {
    /// Where an enquiry came from, for attribution.
    pub enum EnquiryChannel {
        Website,
        InformationEvent,
        ActivityDay,
        Campaign,
        Referral,
        Other,
    }
}

coded! {
    /// Why a child's plan moved away from adoption (statutory reason codes).
    pub enum PlanChangeReason {
        /// RD1: the child's needs changed.
        #[graphql(name = "RD1")]
        #[strum(serialize = "RD1")]
        Rd1,
        /// RD2: the court did not make a placement order.
        #[graphql(name = "RD2")]
        #[strum(serialize = "RD2")]
        Rd2,
        /// RD3: no prospective adopters could be found.
        #[graphql(name = "RD3")]
        #[strum(serialize = "RD3")]
        Rd3,
        /// RD4: any other reason.
        #[graphql(name = "RD4")]
        #[strum(serialize = "RD4")]
        Rd4,
    }
}

coded! {
    /// Why a household left the process or paused it.
    pub enum RecruitmentReason {
        ChangeOfCircumstances,
        Health,
        Relationship,
        Financial,
        AnotherAgency,
        AnotherRoute,
        NotReady,
        SuitabilityConcerns,
        Safeguarding,
        NoContact,
        Other,
    }
}

coded! {
    /// What an audit event records.
    pub enum AuditAction {
        View,
        Search,
        Create,
        Update,
        Decide,
        Export,
        Denied,
        Import,
    }
}

/// Serde through the GraphQL value, for fields whose types are GraphQL input types (the
/// `Date` scalar, enums, and lists and options of them).
pub mod as_graphql {
    use async_graphql::InputType;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: InputType, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        value.to_value().serialize(s)
    }

    pub fn deserialize<'de, T: InputType, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let value = async_graphql::Value::deserialize(d)?;
        T::parse(Some(value)).map_err(|e| {
            D::Error::custom(e.into_server_error(async_graphql::Pos::default()).message)
        })
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{InputType, Value};
    use strum::IntoEnumIterator;

    use super::*;
    use crate::domain::Stage;
    use crate::domain::funnel::{FunnelGroupBy, Step};
    use crate::domain::links::LinkState;
    use crate::domain::scorecard::ChildAlertKind;
    use crate::domain::sufficiency::Characteristic;

    /// Every value's code is its GraphQL name, parses back, and the vocabulary's name is
    /// its GraphQL type's: the CSV export and the stored codes speak as the schema does.
    fn speaks_as_graphql<T: Coded + InputType + IntoEnumIterator + PartialEq + std::fmt::Debug>() {
        assert_eq!(T::TYPE_NAME, &*<T as InputType>::type_name());
        for value in T::iter() {
            let Value::Enum(name) = value.to_value() else {
                panic!("{value:?} is not a GraphQL enum value");
            };
            assert_eq!(value.code(), name.as_str(), "{}", T::TYPE_NAME);
            assert_eq!(T::from_code(name.as_str()), Some(value), "{}", T::TYPE_NAME);
        }
        assert_eq!(T::from_code("NOT_A_CODE"), None);
    }

    #[test]
    fn every_code_is_its_graphql_name() {
        speaks_as_graphql::<Role>();
        speaks_as_graphql::<AuthorityKind>();
        speaks_as_graphql::<Gender>();
        speaks_as_graphql::<GenderPreference>();
        speaks_as_graphql::<Ethnicity>();
        speaks_as_graphql::<EnquiryChannel>();
        speaks_as_graphql::<PlanChangeReason>();
        speaks_as_graphql::<RecruitmentReason>();
        speaks_as_graphql::<AuditAction>();
        speaks_as_graphql::<Stage>();
        speaks_as_graphql::<LinkState>();
        speaks_as_graphql::<ChildAlertKind>();
        speaks_as_graphql::<FunnelGroupBy>();
        speaks_as_graphql::<Step>();
        speaks_as_graphql::<Characteristic>();
    }
}
