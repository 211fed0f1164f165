"""The store: places and their names, actors, coalitions, sources, control events and the periods derived from them.

Geometry is EPSG:4326 (longitude, latitude). Validity is a half-open `daterange` `[from, to)`: on the day of a
capture the new holder holds the place. Vocabularies are CHECK constraints, so bad data is refused by the
database whatever writes it. The migration in `migrations/versions` is the source of truth for the schema; these
models mirror it for the ORM.
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATERANGE, TSTZRANGE, ExcludeConstraint, Range
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.vocabulary import (
    ActorKind,
    Confidence,
    EventKind,
    MembershipRole,
    PlaceKind,
    Precision,
    Scope,
    Status,
    VersionChange,
    values,
)

# Predictable constraint names, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACTOR_KINDS = values(ActorKind)
PLACE_KINDS = values(PlaceKind)
EVENT_KINDS = values(EventKind)
STATUSES = values(Status)
PRECISIONS = values(Precision)
CONFIDENCES = values(Confidence)
MEMBERSHIP_ROLES = values(MembershipRole)


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Source(Base):
    __tablename__ = "source"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    published_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)


class Actor(Base):
    __tablename__ = "actor"
    __table_args__ = (
        CheckConstraint(one_of("kind", ACTOR_KINDS), name="kind"),
        CheckConstraint("color ~ '^#[0-9a-fA-F]{6}$'", name="color"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    kind: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("actor.id"))
    color: Mapped[str] = mapped_column(String(7), server_default=text("'#808080'"))
    notes: Mapped[str | None] = mapped_column(Text)


class Coalition(Base):
    __tablename__ = "coalition"
    __table_args__ = (CheckConstraint("color ~ '^#[0-9a-fA-F]{6}$'", name="color"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str] = mapped_column(String(7), server_default=text("'#808080'"))

    memberships: Mapped[list[CoalitionMembership]] = relationship(back_populates="coalition")


class CoalitionMembership(Base):
    """An actor's membership of a coalition over a validity range; an actor may be in several coalitions at once."""

    __tablename__ = "coalition_membership"
    __table_args__ = (
        CheckConstraint(one_of("role", MEMBERSHIP_ROLES), name="role"),
        CheckConstraint("NOT isempty(valid)", name="valid_not_empty"),
        # The database, not the loader, refuses two overlapping memberships of one actor in one coalition.
        ExcludeConstraint(
            ("coalition_id", "="),
            ("actor_id", "="),
            ("valid", "&&"),
            name="excl_coalition_membership_overlap",
            using="gist",
        ),
        Index("ix_coalition_membership_actor_valid", "actor_id", "valid", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coalition_id: Mapped[int] = mapped_column(ForeignKey("coalition.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actor.id", ondelete="CASCADE"))
    valid: Mapped[Range[date]] = mapped_column(DATERANGE)
    role: Mapped[str] = mapped_column(String(20), server_default=text("'member'"))
    note: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"))

    coalition: Mapped[Coalition] = relationship(back_populates="memberships")


class Place(Base):
    __tablename__ = "place"
    __table_args__ = (
        CheckConstraint(one_of("kind", PLACE_KINDS), name="kind"),
        CheckConstraint("country_code ~ '^[A-Z]{2}$'", name="country_code"),
        CheckConstraint("population IS NULL OR population >= 0", name="population"),
        CheckConstraint(
            "ST_X(geom) BETWEEN -180 AND 180 AND ST_Y(geom) BETWEEN -90 AND 90", name="geom_in_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    # GeoAlchemy2 creates the GiST index (idx_place_geom) itself.
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, nullable=False))
    country_code: Mapped[str] = mapped_column(String(2))
    population: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"), index=True)
    # Why the place awaits review (the gazetteer created it from an event's name and coordinates); NULL: it does not.
    review: Mapped[str | None] = mapped_column(Text)

    names: Mapped[list[PlaceName]] = relationship(back_populates="place", cascade="all, delete-orphan")


class PlaceName(Base):
    """Every spelling of a place, as written. `name_norm` (lower-case, unaccented, punctuation folded) is what lookups match."""

    __tablename__ = "place_name"
    __table_args__ = (
        UniqueConstraint("place_id", "name", name="uq_place_name_place_id_name"),
        Index("ix_place_name_name_norm", "name_norm"),
        Index(
            "ix_place_name_name_norm_trgm",
            "name_norm",
            postgresql_using="gin",
            postgresql_ops={"name_norm": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(20))
    name_norm: Mapped[str] = mapped_column(Text, Computed("territory_normalize(name)", persisted=True))
    # Without the Arabic article ("al-Bab" = "Bab"); for an airport or base, the name it is named after.
    name_key: Mapped[str] = mapped_column(
        Text, Computed("territory_name_key(name)", persisted=True), index=True
    )
    name_base: Mapped[str | None] = mapped_column(
        Text, Computed("territory_facility_base(name)", persisted=True)
    )

    place: Mapped[Place] = relationship(back_populates="names")


class ControlEvent(Base):
    """Something that happened to a place on a date: the source record from which control periods are derived."""

    __tablename__ = "control_event"
    __table_args__ = (
        CheckConstraint(one_of("kind", EVENT_KINDS), name="kind"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("precision", PRECISIONS), name="precision"),
        CheckConstraint(one_of("confidence", CONFIDENCES), name="confidence"),
        CheckConstraint("status = 'contested' OR actor_id IS NOT NULL", name="holder_named"),
        CheckConstraint("status <> 'contested' OR cardinality(party_ids) >= 2", name="contested_parties"),
        CheckConstraint("status <> 'besieged' OR cardinality(party_ids) >= 1", name="besieger_named"),
        CheckConstraint(
            "precision = 'day' OR (precision = 'month' AND extract(day FROM occurred_on) = 1)"
            " OR (precision = 'year' AND extract(doy FROM occurred_on) = 1)",
            name="precision_aligned",
        ),
        Index("ix_control_event_place_id_occurred_on", "place_id", "occurred_on"),
        Index("ix_control_event_occurred_on_id", "occurred_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"))
    occurred_on: Mapped[date] = mapped_column(Date)
    precision: Mapped[str] = mapped_column(String(5), server_default=text("'day'"))
    # Orders two events on one day; the last one gives the day's state.
    seq: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actor.id"))
    losing_actor_id: Mapped[int | None] = mapped_column(ForeignKey("actor.id"))
    status: Mapped[str] = mapped_column(String(12))
    # Contested: every actor fighting for the place. Besieged: the besiegers.
    party_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    confidence: Mapped[str] = mapped_column(String(10), server_default=text("'confirmed'"))
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A retracted event stays in the store (and its versions in history) but no longer shapes any period.
    retracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", name="fk_control_event_recorded_by_api_key")
    )


class ControlEventOrigin(Base):
    """The import an event came from (e.g. `acled`) and when the origin last modified it (ACLED's `timestamp`)."""

    __tablename__ = "control_event_origin"

    control_event_id: Mapped[int] = mapped_column(
        ForeignKey("control_event.id", ondelete="CASCADE"), primary_key=True
    )
    origin: Mapped[str] = mapped_column(String(40), index=True)
    modified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ControlEventSource(Base):
    __tablename__ = "control_event_source"

    control_event_id: Mapped[int] = mapped_column(
        ForeignKey("control_event.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), primary_key=True, index=True)


class ControlPeriod(Base):
    """Derived from control events by the database (trigger `control_event_periods_*`); never written directly."""

    __tablename__ = "control_period"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("confidence", CONFIDENCES), name="confidence"),
        CheckConstraint("NOT isempty(valid)", name="valid_not_empty"),
        # One state per place on any date, guaranteed by the database.
        ExcludeConstraint(
            ("place_id", "="), ("valid", "&&"), name="excl_control_period_overlap", using="gist"
        ),
        Index("ix_control_period_actor_valid", "actor_id", "valid", postgresql_using="gist"),
        Index("ix_control_period_valid", "valid", postgresql_using="gist"),
        # Expression indexes (lower(valid), geom::geography) are declared in the migration only.
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actor.id"))
    status: Mapped[str] = mapped_column(String(12))
    party_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    valid: Mapped[Range[date]] = mapped_column(DATERANGE)
    control_event_id: Mapped[int] = mapped_column(
        ForeignKey("control_event.id", ondelete="CASCADE"), index=True
    )
    # The confidence of its state (the surest claim giving it since it began), and the rival claims of its
    # days: other sources' events giving those days another state (README, "Competing claims").
    confidence: Mapped[str] = mapped_column(String(10), server_default=text("'confirmed'"))
    rival_event_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    disputed: Mapped[bool] = mapped_column(Computed("cardinality(rival_event_ids) > 0", persisted=True))


class PlaceState(Base):
    """Each place's timeline: its control periods and the stretches no period covers (unknown), which together
    cover every date once, with what a tile or map shows of the place. Derived by the database (migration 0007,
    `derive_place_states`), kept by triggers on control_period, control_event, place and territory; never written
    directly."""

    __tablename__ = "place_state"
    __table_args__ = (
        CheckConstraint("NOT isempty(valid)", name="valid_not_empty"),
        CheckConstraint("(status IS NULL) = (control_event_id IS NULL)", name="known_with_event"),
        ExcludeConstraint(("place_id", "="), ("valid", "&&"), name="excl_place_state_overlap", using="gist"),
        Index("ix_place_state_geom_valid", "geom", "valid", postgresql_using="gist"),
        # What a places tile below z8 reads: the rows shown at each zoom (migration 0018).
        *(
            Index(
                f"ix_place_state_shown_z{zoom}",
                "geom",
                "valid",
                postgresql_using="gist",
                postgresql_where=text(f"min_zoom <= {zoom}"),
            )
            for zoom in range(8)
        ),
    )
    # No key column: a row is its place and stretch (the exclusion constraint keeps them apart).
    __mapper_args__ = {"primary_key": ["place_id", "valid"]}

    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"))
    valid: Mapped[Range[date]] = mapped_column(DATERANGE)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(12))  # NULL: nothing known over the stretch
    party_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    control_event_id: Mapped[int | None] = mapped_column(Integer)
    # The end of the event's uncertainty window (a month- or year-precision event): before it, only possible.
    uncertain_until: Mapped[date | None] = mapped_column(Date)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=4326, nullable=False, spatial_index=False)
    )
    geom_3857: Mapped[WKBElement] = mapped_column(
        Geometry("POINT", srid=3857, nullable=False, spatial_index=False)
    )
    slug: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    # The period's confidence and rival claims (ControlPeriod's), for the certainty and the disputed flag of a
    # map or an answer; NULL, none and false over a stretch no period covers.
    confidence: Mapped[str | None] = mapped_column(String(10))
    rival_event_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    disputed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Over a stretch no period covers, the territory a read of a date in it shows (NULL: none); kept by the
    # territory triggers, no foreign key (a deleted territory's places are refreshed instead).
    territory_id: Mapped[int | None] = mapped_column(Integer)
    # The least zoom a places tile shows the place at (PlaceZoom's; NULL: from z8 on, with every place).
    min_zoom: Mapped[int | None] = mapped_column(SmallInteger)


class PlaceTerritory(Base):
    """Which territory a read shows for a place on the dates one covers it (of those covering its point: exact
    over approximate, then the latest, then the lowest id), as stretches; no row for a date none covers. Derived
    by the database (`derive_place_territories`), kept by triggers on place and territory; the place's states
    read it. Never written directly."""

    __tablename__ = "place_territory"
    __table_args__ = (CheckConstraint("NOT isempty(valid)", name="valid_not_empty"),)

    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"), primary_key=True)
    valid: Mapped[Range[date]] = mapped_column(DATERANGE, primary_key=True)
    # No foreign key: a deleted territory's places are refreshed instead (as place_state's territory_id).
    territory_id: Mapped[int] = mapped_column(Integer)


class PlaceZoom(Base):
    """The places a places tile below z8 shows, with the least zoom each shows at (one per cell of a 32 x 32 grid
    over a tile, the most prominent: `place_prominence`; from z8 on every place is shown, and has no row here).
    Derived by the database (`refresh_place_zooms`), kept by triggers on place; never written directly."""

    __tablename__ = "place_zoom"
    __table_args__ = (CheckConstraint("min_zoom BETWEEN 0 AND 7", name="min_zoom"),)

    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"), primary_key=True)
    min_zoom: Mapped[int] = mapped_column(SmallInteger)
    # GeoAlchemy2 creates the GiST index (idx_place_zoom_geom_3857) itself.
    geom_3857: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=3857, nullable=False))


class Territory(Base):
    """An area an actor held over a validity range."""

    __tablename__ = "territory"
    __table_args__ = (
        CheckConstraint("NOT isempty(valid)", name="valid_not_empty"),
        CheckConstraint("ST_IsValid(geom) AND ST_SRID(geom) = 4326", name="geom_valid"),
        Index("ix_territory_valid", "valid", postgresql_using="gist"),
        Index("ix_territory_actor_id", "actor_id"),
        # ix_territory_geom_valid, a GiST over (geom, valid), is declared in the migration only.
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actor.id"))
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, nullable=False))
    # Simplified copies for low zooms, generated by PostgreSQL (tolerances in the 0003 migration).
    geom_z6: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
        Computed("ST_Multi(ST_SimplifyPreserveTopology(geom, 0.02))", persisted=True),
    )
    geom_z8: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
        Computed("ST_Multi(ST_SimplifyPreserveTopology(geom, 0.005))", persisted=True),
    )
    # The same two in web mercator (EPSG:3857), for vector tiles.
    geom_z6_3857: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=3857, spatial_index=False),
        Computed("ST_Transform(ST_Multi(ST_SimplifyPreserveTopology(geom, 0.02)), 3857)", persisted=True),
    )
    geom_z8_3857: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=3857, spatial_index=False),
        Computed("ST_Transform(ST_Multi(ST_SimplifyPreserveTopology(geom, 0.005)), 3857)", persisted=True),
    )
    # Geodesic area in km², generated by PostgreSQL.
    area_km2: Mapped[float] = mapped_column(Computed("ST_Area(geom::geography) / 1e6", persisted=True))
    valid: Mapped[Range[date]] = mapped_column(DATERANGE)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"))
    approximate: Mapped[bool] = mapped_column(server_default=text("true"))
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FrontLine(Base):
    """A line between two sides over a validity range."""

    __tablename__ = "front_line"
    __table_args__ = (
        CheckConstraint("NOT isempty(valid)", name="valid_not_empty"),
        CheckConstraint("ST_IsValid(geom) AND ST_SRID(geom) = 4326", name="geom_valid"),
        Index("ix_front_line_valid", "valid", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTILINESTRING", srid=4326, nullable=False))
    side_a_actor_id: Mapped[int] = mapped_column(ForeignKey("actor.id"))
    side_b_actor_id: Mapped[int] = mapped_column(ForeignKey("actor.id"))
    valid: Mapped[Range[date]] = mapped_column(DATERANGE)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"))
    approximate: Mapped[bool] = mapped_column(server_default=text("true"))
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    """A key for the API; the secret is kept only as its SHA-256 digest."""

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(one_of("scope", values(Scope)), name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    scope: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateBucket(Base):
    """A token bucket of the shared rate limits (`key:<id>`, `wrong-key:<address>`), UNLOGGED (0010_shared_limits)."""

    __tablename__ = "rate_bucket"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ControlEventVersion(Base):
    """One version of a control event, as it was the record over `recorded` [from, superseded or retracted).

    Written by the SQL function `record_event_versions`; its id is the position of the feed of changes.
    """

    __tablename__ = "control_event_version"
    __table_args__ = (
        CheckConstraint(one_of("change", values(VersionChange)), name="change"),
        CheckConstraint("NOT isempty(recorded)", name="recorded_not_empty"),
        ExcludeConstraint(
            ("control_event_id", "="),
            ("recorded", "&&"),
            name="excl_control_event_version_overlap",
            using="gist",
        ),
        UniqueConstraint("control_event_id", "version", name="uq_control_event_version_event_version"),
        Index("ix_control_event_version_place_recorded", "place_id", "recorded", postgresql_using="gist"),
        # What changed after a moment, for an as_of read (places_recorded_since): each version's last change.
        Index(
            "ix_control_event_version_place_changed",
            "place_id",
            text("(coalesce(upper(recorded), lower(recorded)))"),
        ),
        Index("ix_control_event_version_changed", text("(coalesce(upper(recorded), lower(recorded)))")),
        # The feed's order: each event's open version by position (given at commit, in commit order: see
        # migrations/versions/20261201_0006_feed_positions.py).
        UniqueConstraint("position", name="uq_control_event_version_position"),
        Index(
            "ix_control_event_version_feed_position",
            "position",
            postgresql_where=text("upper_inf(recorded)"),
        ),
        Index("ix_control_event_version_unpositioned", "id", postgresql_where=text("position IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    control_event_id: Mapped[int] = mapped_column(ForeignKey("control_event.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(200))
    place_id: Mapped[int] = mapped_column(Integer, index=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    precision: Mapped[str] = mapped_column(String(5))
    seq: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    losing_actor_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    party_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    confidence: Mapped[str] = mapped_column(String(10))
    notes: Mapped[str | None] = mapped_column(Text)
    source_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    recorded: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    # NULL until the writing transaction commits (the trigger assign_feed_positions numbers it then).
    position: Mapped[int | None] = mapped_column(BigInteger)
    # xid8, declared in the migration (no SQLAlchemy type for it).
