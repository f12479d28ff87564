//! The layout of a set's control area, declared once: [`SetHdr`], the
//! semaphores ([`Sem`]), the wait slots ([`WaitHdr`] and their operations),
//! the undo slots ([`UndoHdr`] and their adjustments), the journal; the
//! [`Shape`] that places them, and [`View`], the checked access to them
//! through the object's `Region`.

use super::*;

pub(super) const MAGIC: u32 = 0x5345_4d31; // "SEM1"

pub(super) const W_FREE: u32 = 0;
pub(super) const W_WAITING: u32 = 1;
pub(super) const W_DONE: u32 = 2;
/// A granter (under the lock) has chosen this sleeper and is committing
/// its operations: the sleeper can no longer cancel, it waits for DONE.
pub(super) const W_CLAIMED: u32 = 3;
/// The sleeper gave up (its deadline passed, or a signal) without the
/// lock, which it could not get in time: no granter touches the slot, and
/// the next enqueue under the lock reuses it.
pub(super) const W_CANCELLED: u32 = 4;
/// The sleeper is trying its operation itself, without the lock
/// (`fast::self_serve`): granters skip the slot, enqueues do not reuse it.
pub(super) const W_SELF: u32 = 5;
pub(super) const W_SLEEP: u32 = 0x100;
/// The sleeper sleeps without a timer (`pending::go_deep`): its slot's
/// bit is set in [`SetHdr::deep`] and its blocking semaphore's word is
/// [`PARKED`]; cleared by [`pending::prewake`], which also wakes it.
pub(super) const W_DEEP: u32 = 0x200;
/// Set by a mover in each sleeper slot of the old file once the set moved
/// (`fence::finish_move`): the word changes, so that a sleeper between
/// its look at the header and its `FUTEX_WAIT` does not sleep on, and it
/// follows the move to the same slot in the copy (`pending::sleep`).
pub(super) const W_AWAY: u32 = 0x400;
/// The slot is the record of a multi-operation `semop` made without the
/// set's lock (`multi::semop_multi_fast`), not a sleeper: its claimant's
/// pid in bits 10..=31 of the state (so that a claimant killed before it
/// recorded itself as the slot's owner is still found), its operations'
/// outcomes in the operation words, [`MULTI_COMMIT`] in `result` once
/// they are to be finished rather than undone. Taken from [`W_FREE`] by
/// compare-and-swap, freed once every word it claimed is released.
pub(super) const W_MULTI: u32 = 6;
/// In a [`W_MULTI`] slot's `result`: the operation is committed (by its
/// claimant's compare-and-swap from 0).
pub(super) const MULTI_COMMIT: i32 = 0x4d43_4f4d;
/// In a [`W_MULTI`] slot's `result`: the operation will never commit: a
/// lock holder that met its claimant stopped (or a mover, or a sweep of a
/// dead one) took the record's 0 first (compare-and-swap) and puts its
/// claims back (`multi::steal`); the claimant, continued, finds its commit
/// failing and makes its call again through the locked path.
pub(super) const MULTI_ABORT: i32 = 0x4d41_4254;

/// Bytes of the fixed headers (checked against the structs below).
pub(super) const HDR: usize = 128;
pub(super) const WHDR: usize = 40;
pub(super) const UHDR: usize = 16 + 8 * NREC;

/// One operation of a `semop` call (the layout of `struct sembuf`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SemOp {
    /// semaphore index in the set
    pub num: u16,
    /// < 0 take, 0 wait for zero, > 0 release
    pub op: i16,
    /// `IPC_NOWAIT` | `SEM_UNDO`
    pub flg: i16,
}

impl SemOp {
    #[inline]
    pub(super) fn pack(self) -> u64 {
        (self.num as u64) | ((self.op as u16 as u64) << 16) | ((self.flg as u16 as u64) << 32)
    }
    #[inline]
    pub(super) fn unpack(w: u64) -> SemOp {
        SemOp {
            num: w as u16,
            op: (w >> 16) as u16 as i16,
            flg: (w >> 32) as u16 as i16,
        }
    }
}

#[repr(C)]
pub(super) struct SetHdr {
    pub(super) magic: AtomicU32,
    pub(super) nsems: AtomicU32,
    pub(super) max_ops: AtomicU32,
    pub(super) nwait: AtomicU32,
    pub(super) nundo: AtomicU32,
    pub(super) waiting: AtomicU32,
    pub(super) slot_gen: AtomicU32,
    pub(super) jstate: AtomicU32,
    pub(super) jcount: AtomicU32,
    pub(super) slot_waiters: AtomicU32,
    pub(super) otime: AtomicI64,
    pub(super) ticket: AtomicU64,
    /// the pid that [`E_SET`] entries record as the semaphores' last
    /// (`SETALL`/`SETVAL`'s caller), written before the journal commits
    pub(super) jpid: AtomicI32,
    /// journal entries (0: a set made before this field, whose journal
    /// holds `2 * max_ops + 8`)
    pub(super) jcap: AtomicU32,
    /// undo slots `[0, undo_hi)` may be in use (raised under the lock when
    /// a slot above is taken; never lowered): sweeps and look-ups scan
    /// only those, none in a set nobody used `SEM_UNDO` on
    pub(super) undo_hi: AtomicU32,
    /// the lock-free path's state on this set (`fast::enter`): 0 never
    /// used, so lock holders need not freeze the words they change; 1
    /// announced, a holder that saw 0 may still hold the lock; 2 in use
    pub(super) lockfree: AtomicU32,
    /// sleeper slots granted (or failed) and not yet collected by their
    /// sleepers: bit `i` for slot `i` (below 64), set by the grant's
    /// `E_DONE`, cleared when the slot is freed. A hint (a process of an
    /// older version neither sets nor clears it): its readers look at the
    /// slot itself. Lets a sweep find a grant whose sleeper died before
    /// collecting it without reading every slot (`pending::reclaim`).
    pub(super) granted: AtomicU64,
    /// sleeper slots whose sleepers sleep without a timer (bit `i` for
    /// slot `i`, below 64; `pending::go_deep`): whoever changes a
    /// [`PARKED`] word, takes a sleeper slot or an undo slot wakes them
    /// first (`pending::prewake`)
    pub(super) deep: AtomicU64,
    /// lock-free multi-operation claims made (`multi::claim_and_apply`:
    /// bumped once a call holds all its words, before its commit), so
    /// that a reading without the lock can tell that none committed
    /// while it read (`multi::all_as_they_stand`); zero in a file made
    /// before it (it was reserved), which a process of that build never
    /// bumps
    pub(super) multi_gen: AtomicU32,
    /// non-zero when a lock-free multi-operation `semop` found no free
    /// sleeper slot for its record (`multi::take_record`): records whose
    /// claimants died holding no word are freed by the next lock holder
    /// that looks (`multi::sweep_short`), not only by a sweep of sleepers
    pub(super) multi_short: AtomicU32,
    /// at least the number of owed marks ([`INTENT_OWED`]) in the undo
    /// slots' records (layout 12): raised before a mark is set, lowered
    /// after one is cleared (by whoever cleared it), so that a writer of
    /// an adjustment that reads 0 after freezing its word knows none is
    /// owed without scanning the records (`undo::wait_owed`); a process
    /// killed between the two leaves it high (a scan more, no more)
    pub(super) owed: AtomicU32,
    /// non-zero once the set's *tail* (its undo area when small, and its
    /// journal: [`Resv::tail_start`] to the end of the file) holds storage
    /// (layout 14): set by the first operation that needs it
    /// ([`View::reserve_tail`]: the first undo slot taken, the first
    /// journaled change, the first sleeper) after its reservation
    /// succeeded; a set is created without it
    pub(super) tail: AtomicU32,
    /// room to grow without moving the arrays (zero)
    pub(super) _reserved: [AtomicU32; 6],
}
const _: () = assert!(core::mem::size_of::<SetHdr>() == HDR);

/// The version of this layout ([`SetHdr`], then the arrays [`Shape`]
/// places), kept in the object header and checked on open: another version
/// is a corrupt set. 2: [`SetHdr::undo_hi`] and reserved words (128-byte
/// header). 3: a semaphore's value and last pid in one word with a
/// [`FROZEN`] bit (the lock-free path, `fast.rs`): a version-2 process
/// would write values without looking at the bit. 4: the [`PARKED`] bit
/// (bit 30, out of the value's bits) and [`SetHdr::granted`] /
/// [`SetHdr::deep`]: a version-3 process would read a parked value as
/// SEMVMX and change it without waking the sleeper that sleeps without a
/// timer. 5: the lock-free `SEM_UNDO` operation (`fast::semop_undo_fast`):
/// a [`CLAIM`] bit and its claimant's undo slot and record in a frozen
/// word, and [`NREC`] intent records in each undo slot (a version-4
/// process would thaw a claimed word under its claimant). 6: the
/// lock-free multi-operation `semop` (`multi.rs`): a [`MULTI`] claim
/// naming a [`W_MULTI`] sleeper slot (a version-5 process would read it
/// as a `SEM_UNDO` claim naming an undo slot, and take the slot's state
/// for a free one). 7: the set fence (`fence.rs`): tombstones
/// ([`SemWord::tomb`]) and a sealed journal (`jstate` [`J_SEALED`]),
/// which every lock holder's write leaves alone (a version-6 holder
/// would settle a tombstone as a scribbled claim and write on). 8: a
/// multi-operation `semop`'s commit and releases are compare-and-swaps
/// against a lock holder that finishes or undoes the call of a stopped
/// claimant ([`MULTI_ABORT`], [`MULTI_REL`]: `multi::steal`): a
/// version-7 claimant would commit and release with plain stores over
/// the holder's decision. 9: sleepers follow a move to the same slot in
/// the copy ([`W_AWAY`], `fence::rebuild`): a version-8 sleeper would
/// sleep on in the old file, and a version-8 process would take a slot
/// state with [`W_AWAY`] for another. 10: a one-operation `SEM_UNDO`
/// claim is committed ([`UREL`]) and released by compare-and-swaps
/// against a lock holder that settles a stopped claimant's operation in
/// its place (`undo::steal_one`, [`INTENT_FIN`]), and a word's owned
/// release ([`UREL`], [`MULTI_REL`]) ends with a compare-and-swap that
/// whoever finds the adjustment stored may make first: a version-9
/// claimant would store its adjustment and release over the settler's
/// decision. 11: a mover stopped in the middle of its move is taken over
/// (`fence::wait_for_mover`, docs/bounded-time.md "Taking over a stalled
/// move"): a mover lifts its tombstones only after claiming the move
/// epoch (`Obj::begin_lift`) while its fence is still on the lock, and
/// publishes only through the header's commit point (`moved_to`): a
/// version-10 mover taken over would lift the tombstones under the new
/// mover's copy, and rename its stale copy over the names. 12: a settler
/// that meets a one-operation claimant stopped between its commit and its
/// adjustment's store releases the word and leaves the adjustment *owed*
/// ([`INTENT_OWED`] in the claimant's intent record), which every other
/// writer of that adjustment defers to (`undo::owed`): a version-11
/// process would overwrite an owed adjustment (its other threads,
/// `SETVAL`, a grant) and, continued after such a release, never clear
/// the mark. 13: the same for a multi-operation call's word whose
/// release ([`MULTI_REL`]) a stopped claimant owns before its
/// adjustment's store: the settler takes the word, stores the adjustment,
/// marks its outcome owed (`multi::OUT_OWED` in the record's outcome
/// word) and releases it; a release a settler took from an owner that
/// may still store says so ([`MULTI_OWING`]), and is completed by
/// another only once its mark is made: a version-12 process would
/// complete such a release on the claimant's late store (the settler's
/// own store landing after), write over a multi-operation call's owed
/// adjustment, and never clear the mark. 14: a set's tail (undo area and
/// journal) is reserved when first needed ([`SetHdr::tail`],
/// [`View::reserve_tail`]), no longer at creation: a version-13 process
/// would write a journal or an undo slot in a hole (`SIGBUS` on a full
/// file system) and count the tail's pages as reserved at `IPC_RMID`.
pub const LAYOUT_VERSION: u32 = 14;

/// One semaphore: its value and the pid of the last process that operated
/// on it, in one word ([`SemWord`]), so that the lock-free path changes
/// both with one compare-and-swap.
#[repr(C)]
pub(super) struct Sem {
    pub(super) word: AtomicU64,
}
const _: () = assert!(core::mem::size_of::<Sem>() == 8);

/// In a [`SemWord`]: the set's lock holder is reading or changing this
/// semaphore (set by [`Sem::freeze`], cleared when the lock is let go):
/// the lock-free path leaves the word alone and takes the lock.
pub(super) const FROZEN: u64 = 1 << 31;
/// In a [`SemWord`]: a sleeper sleeps on this semaphore without a timer
/// (`pending::go_deep`); whoever changes the word wakes it first
/// (`pending::prewake`), so that a changer killed before its grant never
/// leaves it asleep for ever. Set under the lock; dropped by the next
/// write (a new word never has it).
pub(super) const PARKED: u64 = 1 << 30;
/// In a [`SemWord`] (always with [`FROZEN`]): a process is in the middle
/// of a lock-free `SEM_UNDO` operation on this semaphore
/// (`fast::semop_undo_fast`): it owns the word until its release store.
/// Bits 16..=22 name its undo slot, bits 24..=26 the intent record in it
/// and bits 27..=28 the claim's epoch (which the record it writes next
/// repeats), the pid field the claimant; the value bits keep the value it
/// found.
pub(super) const CLAIM: u64 = 1 << 29;
/// In a [`CLAIM`]ed word: the claim is a multi-operation `semop`'s made
/// without the lock (`multi::semop_multi_fast`): bits 16..=22 name its
/// [`W_MULTI`] sleeper slot, bits 27..=28 the slot's ticket (its low two
/// bits), and the value and pid bits keep the word as it was (what an
/// undone claim puts back).
pub(super) const MULTI: u64 = 1 << 23;
/// In a [`MULTI`] claim of a committed call: one process (named in the
/// pid bits: the claimant, or a lock holder finishing a stopped
/// claimant's call) owns the word's release, and stores the process's
/// adjustment for it, then the outcome (`multi::release_word`); nobody
/// else writes either meanwhile. A dead owner's is taken over by
/// compare-and-swap.
pub(super) const MULTI_REL: u64 = 1 << 24;
/// In a [`MULTI_REL`] word whose release a *settler* owns (a process that
/// is not the call's claimant: `multi::release_word`): it took the
/// release from an owner that may still store the adjustment — the
/// claimant, stopped between its own [`MULTI_REL`] and its store, or a
/// dead settler that may have taken it from there — so the adjustment
/// found stored may be that late store, the settler's own still to come.
/// Such a release is completed by another only once the settler's owed
/// mark is made (`multi::OUT_OWED`, after its store); one without the bit
/// once the adjustment is stored, as the claimant's own (layout 13).
pub(super) const MULTI_OWING: u64 = 1 << 25;
/// A *tombstone* ([`SemWord::entomb`]): the word of a set being moved to a
/// new file away from a stopped lock holder (`fence.rs`), laid by the
/// mover before it copies the file: [`FROZEN`] and [`CLAIM`]ed by undo
/// slot 127, which no set has (`NUNDO` is 64), value and last pid kept.
/// Every lock-free operation leaves it alone (it is frozen), no claim
/// settles it, and every write of the lock holder's leaves it alone (a
/// stale holder continued after the copy waits for the move's fate:
/// `fence::fate`), so nothing lands in the old file once it is copied.
const TOMB: u64 = FROZEN | CLAIM | (0x7f << 16);
/// In a one-operation `SEM_UNDO` claim ([`CLAIM`] without [`MULTI`]; bit
/// 30, [`PARKED`]'s, which a claimed word never carries): the operation
/// is decided and one process, named in the pid bits, owns the word's
/// release — the claimant, once it committed, or a lock holder (or
/// mover) settling the operation of a stopped or dead claimant in its
/// place (`undo::steal_one`). The owner stores the adjustment, then the
/// outcome by compare-and-swap; whoever finds the adjustment stored may
/// make that last compare-and-swap first (same outcome). Names, value
/// (as found) kept.
pub(super) const UREL: u64 = 1 << 30;
/// In an intent record ([`Intent`]): a settler finished the operation in
/// its claimant's place (`undo::steal_one`); the claimant, whose commit
/// failed, reads it here (no mark: undone, made again).
pub(super) const INTENT_FIN: u64 = 1 << 50;
/// In an intent record ([`Intent`]): its adjustment is *owed* — a settler
/// released the word of a claimant that committed ([`UREL`]) and was
/// stopped before its adjustment's store, which it makes when continued
/// (the settler stored the same value). Until the claimant, continued,
/// clears the mark (after it learns the word's fate), every other writer
/// of that adjustment defers (`undo::owed`): the claimant's late plain
/// store would overwrite theirs. Set only while a settler owns the word;
/// paid (the record's adjustment stored, the mark cleared) by the undo of
/// the dead process and by a move's copy.
pub(super) const INTENT_OWED: u64 = 1 << 51;
/// The bits that make a word a tombstone (with [`MULTI`] clear).
const TOMB_MASK: u64 = FROZEN | CLAIM | MULTI | (0x7f << 16);
/// In a tombstone: the lock holder had frozen the word (a move given up
/// puts that freeze back: [`SemWord::lifted`]).
const TOMB_FROZE: u64 = 1 << 24;
/// Intent records per undo slot: one per thread of the process that may
/// operate without the lock at once (`fast::thread_rec`); the others take
/// the lock.
pub(super) const NREC: usize = 8;
/// The value's bits of a [`SemWord`] (bits 0..=15; a scribbled value above
/// `SEMVMX` reads as `SEMVMX`; bits 16..=28 carry a claim's names).
const VAL_MASK: u64 = 0xffff;

/// A semaphore's word: value in bits 0..=15, a claim's names in 16..=28,
/// [`CLAIM`] in bit 29, [`PARKED`] in bit 30, [`FROZEN`] in bit 31, the
/// last pid in bits 32..=63 (so that, little-endian, the value is the
/// first 4 bytes and the pid the next 4, as in the `int val, pid` of
/// layout 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SemWord(pub(super) u64);

impl SemWord {
    #[inline]
    pub(super) fn new(val: i32, pid: i32) -> SemWord {
        SemWord((val.clamp(0, SEMVMX) as u64) | ((pid as u32 as u64) << 32))
    }
    /// The value, clamped into 0..=SEMVMX.
    #[inline]
    pub(super) fn val(self) -> i32 {
        (self.0 & VAL_MASK).min(SEMVMX as u64) as i32
    }
    #[inline]
    pub(super) fn pid(self) -> i32 {
        (self.0 >> 32) as u32 as i32
    }
    #[inline]
    pub(super) fn frozen(self) -> bool {
        self.0 & FROZEN != 0
    }
    /// A sleeper sleeps on it without a timer ([`PARKED`]).
    #[inline]
    pub(super) fn parked(self) -> bool {
        // (A claimed word's bit 30 is [`UREL`].)
        self.0 & (PARKED | CLAIM) == PARKED
    }
    /// A lock-free `SEM_UNDO` operation owns it ([`CLAIM`]).
    #[inline]
    pub(super) fn claimed(self) -> bool {
        self.0 & CLAIM != 0
    }
    /// The word that claims value `val` for the intent record `k` of undo
    /// slot `u` of process `pid`, epoch `e` (frozen: every other party
    /// keeps off).
    #[inline]
    pub(super) fn claim(val: i32, u: usize, k: usize, e: u32, pid: i32) -> SemWord {
        SemWord(
            SemWord::new(val, pid).0
                | FROZEN
                | CLAIM
                | ((u as u64 & 0x7f) << 16)
                | ((k as u64 & 0x7) << 24)
                | ((e as u64 & 0x3) << 27),
        )
    }
    /// A one-operation claim whose release is owned ([`UREL`]), by the
    /// process its pid bits name.
    #[inline]
    pub(super) fn urel(self) -> bool {
        self.0 & (CLAIM | MULTI | UREL) == CLAIM | UREL && !self.tomb()
    }
    /// The one-operation claim `self` (names and value kept) with its
    /// release owned by `pid` ([`UREL`]).
    #[inline]
    pub(super) fn urel_by(self, pid: i32) -> SemWord {
        SemWord((self.0 & 0xffff_ffff) | UREL | ((pid as u32 as u64) << 32))
    }
    /// A claimed word's undo slot and intent record.
    #[inline]
    pub(super) fn claimant(self) -> (usize, usize) {
        (
            ((self.0 >> 16) & 0x7f) as usize,
            ((self.0 >> 24) & 0x7) as usize,
        )
    }
    /// A claimed word's epoch.
    #[inline]
    pub(super) fn epoch(self) -> u32 {
        ((self.0 >> 27) & 0x3) as u32
    }
    /// The word `self` (not frozen) claimed for the multi-operation
    /// `semop` recorded in sleeper slot `slot` with ticket epoch `e`
    /// ([`MULTI`]): value and last pid kept.
    #[inline]
    pub(super) fn claim_multi(self, slot: usize, e: u32) -> SemWord {
        SemWord(
            (self.0 & (VAL_MASK | 0xffff_ffff_0000_0000))
                | FROZEN
                | CLAIM
                | MULTI
                | ((slot as u64 & 0x7f) << 16)
                | ((e as u64 & 0x3) << 27),
        )
    }
    /// A claim of a multi-operation `semop` ([`MULTI`]).
    #[inline]
    pub(super) fn multi(self) -> bool {
        self.0 & (CLAIM | MULTI) == CLAIM | MULTI
    }
    /// A [`MULTI`] claim of sleeper slot `slot` at epoch `e` (released by
    /// its owner or not: [`MULTI_REL`]).
    #[inline]
    pub(super) fn names(self, slot: usize, e: u32) -> bool {
        self.multi() && self.multi_slot() == slot && self.epoch() == e
    }
    /// A [`MULTI`] claim whose release is owned ([`MULTI_REL`]), by the
    /// process its pid bits name.
    #[inline]
    pub(super) fn rel(self) -> bool {
        self.multi() && self.0 & MULTI_REL != 0
    }
    /// The [`MULTI`] claim `self` with its release owned by `pid`.
    #[inline]
    pub(super) fn rel_by(self, pid: i32) -> SemWord {
        SemWord((self.0 & 0xffff_ffff & !MULTI_OWING) | MULTI_REL | ((pid as u32 as u64) << 32))
    }
    /// A settler's owned release taken from an owner that may still store
    /// the adjustment ([`MULTI_OWING`]).
    #[inline]
    pub(super) fn owing(self) -> bool {
        self.rel() && self.0 & MULTI_OWING != 0
    }
    /// A [`MULTI`] claim's sleeper slot.
    #[inline]
    pub(super) fn multi_slot(self) -> usize {
        ((self.0 >> 16) & 0x7f) as usize
    }
    /// The word a [`MULTI`] claim kept: as it was before the claim.
    #[inline]
    pub(super) fn unclaimed(self) -> SemWord {
        SemWord(self.0 & (VAL_MASK | 0xffff_ffff_0000_0000))
    }
    /// A tombstone ([`TOMB`]): the set is being moved, or moved.
    #[inline]
    pub(super) fn tomb(self) -> bool {
        self.0 & TOMB_MASK == TOMB
    }
    /// The tombstone of `self` (a word not claimed): value and last pid
    /// kept, and whether the lock holder had frozen it.
    #[inline]
    pub(super) fn entomb(self) -> SemWord {
        let froze = if self.frozen() { TOMB_FROZE } else { 0 };
        SemWord((self.0 & (VAL_MASK | 0xffff_ffff_0000_0000)) | TOMB | froze)
    }
    /// A tombstone lifted (a move given up): the word as it was, frozen
    /// when the lock holder had frozen it.
    #[inline]
    pub(super) fn lifted(self) -> SemWord {
        let froze = if self.0 & TOMB_FROZE != 0 { FROZEN } else { 0 };
        SemWord((self.0 & (VAL_MASK | 0xffff_ffff_0000_0000)) | froze)
    }
}

/// An intent record (one word in its undo slot, [`View::intent`]): what a
/// lock-free `SEM_UNDO` operation leaves once done — semaphore `n`, its
/// new value and the process's new adjustment for it (absolute values) —
/// written right after its claim, under the claim's `epoch`. A claimed
/// word whose record repeats its epoch is finished from the record; one
/// whose record does not (the claimant died before writing it, so before
/// it stored anything) is put back.
///
/// Why after the claim: the adjustment is the process's, shared by its
/// threads; read before the claim, it could be stale while the word
/// itself came back to what was read (another thread's P and V in
/// between: ABA), and the record would then carry a wrong adjustment.
/// Once the word is claimed, nobody else changes it or the adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Intent {
    pub(super) n: usize,
    pub(super) val: i32,
    pub(super) adj: i16,
    pub(super) epoch: u32,
}

/// The tag in an intent record's top 12 bits (a zeroed or scribbled
/// record is not one).
const INTENT_TAG: u64 = 0x1e7;

impl Intent {
    #[inline]
    pub(super) fn pack(self) -> u64 {
        (self.n as u64 & 0xffff)
            | ((self.val as u16 as u64) << 16)
            | ((self.adj as u16 as u64) << 32)
            | ((self.epoch as u64 & 0x3) << 48)
            | (INTENT_TAG << 52)
    }
    #[inline]
    pub(super) fn unpack(w: u64) -> Option<Intent> {
        (w >> 52 == INTENT_TAG).then_some(Intent {
            n: (w & 0xffff) as usize,
            val: (w >> 16) as u16 as i32,
            adj: (w >> 32) as u16 as i16,
            epoch: ((w >> 48) & 0x3) as u32,
        })
    }
    /// The epoch a record's next claim uses (the record word as it
    /// stands: its owner's last).
    #[inline]
    pub(super) fn next_epoch(w: u64) -> u32 {
        (((w >> 48) as u32) + 1) & 0x3
    }
}

impl Sem {
    /// The word as it stands (**acquire**: pairs with the release of a
    /// compare-and-swap or an unfreeze).
    #[inline]
    pub(super) fn load(&self) -> SemWord {
        SemWord(self.word.load(Ordering::Acquire))
    }
    /// Freezes the word for the set's lock holder (the caller holds the
    /// lock): from now on no lock-free operation changes it, so what the
    /// holder reads stays true until it writes. Recorded so that the lock's
    /// release thaws it (`journal::note_frozen`). Returns the word: a
    /// [`CLAIM`]ed one is not the holder's yet (its claimant owns it; see
    /// [`View::freeze`], which waits for it or finishes its operation).
    #[inline]
    pub(super) fn freeze(&self) -> SemWord {
        let w = SemWord(self.word.fetch_or(FROZEN, Ordering::AcqRel));
        // Recorded even when it was frozen already (by this holder, or
        // left so by a scribble): thawed either way. Not a claimed word:
        // its claimant's release store thaws it.
        if !w.claimed() {
            note_frozen(self);
        }
        w
    }
    /// [`Sem::freeze`] without the record: the caller thaws the word
    /// itself ([`Thaw`]) before it lets the lock go.
    #[inline]
    pub(super) fn freeze_here(&self) -> SemWord {
        SemWord(self.word.fetch_or(FROZEN, Ordering::AcqRel))
    }
    /// Sets the value and the last pid of a word the caller has frozen
    /// (it stays frozen). A compare-and-swap that leaves a tombstone alone:
    /// the set is being moved away from this (stale) holder, which waits
    /// for the move's fate ([`fence::fate`]): given up, the write is made
    /// again; moved, `ESTALE` (nothing more is written).
    #[inline]
    pub(super) fn put(&self, o: &Obj, val: i32, pid: i32) -> Result<()> {
        self.put_by(o, |_| SemWord::new(val, pid))
    }
    /// Sets the value of a frozen word, keeping its last pid.
    #[inline]
    pub(super) fn put_val(&self, o: &Obj, val: i32) -> Result<()> {
        self.put_by(o, |w| SemWord::new(val, w.pid()))
    }
    /// Sets the last pid of a frozen word, keeping its value.
    #[inline]
    pub(super) fn put_pid(&self, o: &Obj, pid: i32) -> Result<()> {
        self.put_by(o, |w| SemWord::new(w.val(), pid))
    }
    /// [`Sem::put`] of what `new` makes of the word as it stands.
    #[inline(always)]
    fn put_by(&self, o: &Obj, new: impl Fn(SemWord) -> SemWord) -> Result<()> {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            if SemWord(cur).tomb() {
                fence::fate(o)?;
                cur = self.word.load(Ordering::Relaxed);
                continue;
            }
            match self.word.compare_exchange_weak(
                cur,
                new(SemWord(cur)).0 | FROZEN,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(x) => cur = x,
            }
        }
    }
    /// Thaws a word the caller froze, storing `w` (**release**), or
    /// clearing [`FROZEN`] (`w` `None`): a tombstone is left alone, the
    /// move's fate waited for, and the thaw made on a word given back.
    #[inline]
    pub(super) fn thaw_to(&self, o: &Obj, w: Option<SemWord>) {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            if SemWord(cur).tomb() {
                if fence::fate(o).is_err() {
                    return;
                }
                cur = self.word.load(Ordering::Relaxed);
                continue;
            }
            let new = w.map_or(cur, |w| w.0) & !FROZEN;
            match self
                .word
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(x) => cur = x,
            }
        }
    }
}

/// One operation of a sleeping `semop`, packed ([`SemOp::pack`]); a wait
/// slot's [`WaitHdr`] is followed by `max_ops` of them.
pub(super) type WaitOp = AtomicU64;
/// One semaphore's adjustment in an undo slot; an [`UndoHdr`] is followed
/// by `nsems` of them, padded to 8 bytes.
pub(super) type Adj = AtomicI16;
/// One journal entry ([`ent`]).
pub(super) type JEnt = AtomicU64;

#[repr(C)]
pub(super) struct WaitHdr {
    pub(super) state: AtomicU32,
    pub(super) result: AtomicI32,
    pub(super) pid: AtomicI32,
    pub(super) undo: AtomicI32,
    pub(super) start: AtomicU64,
    pub(super) ticket: AtomicU64,
    pub(super) nsops: AtomicU32,
    pub(super) blocking: AtomicU32,
}
const _: () = assert!(core::mem::size_of::<WaitHdr>() == WHDR);

#[repr(C)]
pub(super) struct UndoHdr {
    pub(super) pid: AtomicI32,
    /// the pid of a process taking this slot while it is free
    /// (`undo::take_slot`: with or without the set's lock), 0 otherwise;
    /// zero in a file made before it was used (it was padding)
    pub(super) taking: AtomicU32,
    pub(super) start: AtomicU64,
    /// intent records ([`Intent`]), one per thread that operates without
    /// the lock (`fast::begin`)
    pub(super) recs: [AtomicU64; NREC],
}
const _: () = assert!(core::mem::size_of::<UndoHdr>() == UHDR);

impl WaitHdr {
    /// Who sleeps in the slot.
    #[inline]
    pub(super) fn owner(&self) -> OwnerRef<'_> {
        OwnerRef::new(&self.pid, &self.start)
    }
}

impl UndoHdr {
    /// Whose adjustments the slot holds.
    #[inline]
    pub(super) fn owner(&self) -> OwnerRef<'_> {
        OwnerRef::new(&self.pid, &self.start)
    }
}

/// Thaws a word frozen by [`Sem::freeze_here`] when dropped (declared
/// after the lock's guard, so dropped before it).
pub(super) struct Thaw<'a>(pub(super) &'a Sem, pub(super) &'a Obj);

impl Thaw<'_> {
    /// Thaws the word by storing `w` (not frozen) into it, **release**
    /// (a compare-and-swap that leaves a tombstone alone: [`Sem::thaw_to`]).
    #[inline]
    pub(super) fn store(self, w: SemWord) {
        self.0.thaw_to(self.1, Some(w));
        core::mem::forget(self);
    }
}

impl Drop for Thaw<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.thaw_to(self.1, None);
    }
}

// SAFETY: each is `#[repr(C)]`, atomics only.
unsafe impl Shared for SetHdr {}
// SAFETY: as above.
unsafe impl Shared for Sem {}
// SAFETY: as above.
unsafe impl Shared for WaitHdr {}
// SAFETY: as above.
unsafe impl Shared for UndoHdr {}

/// Sizes of a set's areas, from its shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) nsems: usize,
    pub(super) max_ops: usize,
    pub(super) nwait: usize,
    pub(super) nundo: usize,
    pub(super) jcap: usize,
}

/// What a set reserves of its file: at creation (`get`) the first page
/// (the namespace's create) and the rest of the head (header and values,
/// `init`); when first needed ([`View::reserve_tail`]) the *tail*, from
/// the undo area (when it takes at most 64 KiB) or the journal to the end
/// of the file. Byte offsets in the file. `IPC_RMID` and the other walks over the sleeper
/// slots count these pages against the file's storage
/// ([`Resv::pages`], `Obj::only_reserved`): a change here changes what
/// they take for never written, so it must come with a layout version.
pub(super) struct Resv {
    /// end of the header and values (the sleeper slots begin there)
    pub(super) head: u64,
    pub(super) journal: (u64, u64),
    pub(super) undo_area: (u64, u64),
    /// the file's size (a page multiple)
    pub(super) whole: u64,
}

impl Resv {
    pub(super) fn of(shape: &Shape) -> Resv {
        Resv {
            head: (HEADER_LEN + shape.off_wait()) as u64,
            journal: (
                (HEADER_LEN + shape.off_journal()) as u64,
                8 * shape.jcap() as u64,
            ),
            undo_area: (
                (HEADER_LEN + shape.off_undo()) as u64,
                (shape.nundo * shape.usz()) as u64,
            ),
            whole: ((HEADER_LEN + shape.total()) as u64).next_multiple_of(4096),
        }
    }

    /// Whether the undo area is reserved with the tail, when first needed
    /// (every `SEM_UNDO` operation reads each slot's owner: up to ~500
    /// semaphores).
    pub(super) fn undo_reserved(&self) -> bool {
        self.undo_area.1 <= 64 * 1024
    }

    /// Whether the undo area is reserved as part of the tail.
    pub(super) fn undo_in_tail(&self) -> bool {
        self.undo_reserved() && self.undo_area.0 + self.undo_area.1 == self.journal.0
    }

    /// Where the tail the namespace's create reserves begins.
    pub(super) fn tail_start(&self) -> u64 {
        if self.undo_in_tail() {
            self.undo_area.0
        } else {
            self.journal.0
        }
    }

    /// The reserved pages of a set with semaphores (with its tail when
    /// `tail`: [`SetHdr::tail`]): runs `[first, end)` of page numbers,
    /// ascending and disjoint (merged), at most three.
    pub(super) fn pages(&self, tail: bool) -> ([(u64, u64); 3], usize) {
        const P: u64 = 4096;
        let mut r = [(0, self.head.max(P).div_ceil(P)), (0, 0), (0, 0)];
        if tail {
            r[1] = (self.tail_start() / P, self.whole / P);
        }
        let mut n = 2;
        if tail && self.undo_reserved() && !self.undo_in_tail() {
            let (a, len) = self.undo_area;
            r[2] = (a / P, (a + len).div_ceil(P));
            n = 3;
        }
        r[..n].sort_unstable();
        let mut m = 0;
        for i in 0..n {
            let (a, b) = r[i];
            if a >= b {
                continue;
            }
            if m > 0 && a <= r[m - 1].1 {
                r[m - 1].1 = r[m - 1].1.max(b);
            } else {
                r[m] = (a, b);
                m += 1;
            }
        }
        (r, m)
    }
}

/// Journal entries of a set made by an older version (no `jcap` field).
#[inline]
pub(super) fn legacy_jcap(max_ops: usize) -> usize {
    2 * max_ops + 8
}

/// Journal entries of a new set: a `semop` (values, adjustments, its
/// sleepers' completions) or a `SETALL` (one [`E_SET`] per semaphore).
#[inline]
pub(super) fn new_jcap(nsems: usize, max_ops: usize) -> usize {
    (2 * max_ops).max(nsems) + 8
}

use core::mem::size_of;

impl Shape {
    /// Bytes of a wait slot: its header and `max_ops` operations.
    #[inline]
    pub(super) fn wsz(&self) -> usize {
        size_of::<WaitHdr>() + size_of::<WaitOp>() * self.max_ops
    }
    /// Bytes of an undo slot: its header (with its [`NREC`] intent
    /// records) and `nsems` adjustments, padded to 8 bytes.
    #[inline]
    pub(super) fn usz(&self) -> usize {
        size_of::<UndoHdr>() + (size_of::<Adj>() * self.nsems).next_multiple_of(8)
    }
    #[inline]
    pub(super) fn jcap(&self) -> usize {
        self.jcap
    }
    #[inline]
    pub(super) fn off_sems(&self) -> usize {
        size_of::<SetHdr>()
    }
    #[inline]
    pub(super) fn off_wait(&self) -> usize {
        self.off_sems() + size_of::<Sem>() * self.nsems
    }
    #[inline]
    pub(super) fn off_undo(&self) -> usize {
        self.off_wait() + self.nwait * self.wsz()
    }
    #[inline]
    pub(super) fn off_journal(&self) -> usize {
        self.off_undo() + self.nundo * self.usz()
    }
    #[inline]
    pub(super) fn total(&self) -> usize {
        self.off_journal() + size_of::<JEnt>() * self.jcap()
    }
}

/// A checked view of one set's control area.
pub(super) struct View<'a> {
    pub(super) o: &'a Obj,
    pub(super) s: Shape,
    /// The control area, through which every word is read.
    pub(super) r: Region<'a>,
    /// The set header, at the start of `r` (found once per view).
    h: &'a SetHdr,
}

impl<'a> View<'a> {
    #[inline]
    pub(super) fn new(o: &'a Obj) -> Result<View<'a>> {
        o.check_layout(LAYOUT_VERSION)?;
        let h: &SetHdr = o.at(0)?;
        if h.magic.load(Ordering::Acquire) != MAGIC {
            return Err(Errno::EIO);
        }
        let mut s = Shape {
            nsems: h.nsems.load(Ordering::Relaxed) as usize,
            max_ops: h.max_ops.load(Ordering::Relaxed) as usize,
            nwait: h.nwait.load(Ordering::Relaxed) as usize,
            nundo: h.nundo.load(Ordering::Relaxed) as usize,
            jcap: h.jcap.load(Ordering::Relaxed) as usize,
        };
        if s.jcap == 0 {
            s.jcap = legacy_jcap(s.max_ops);
        }
        // Bounded shape (so the arithmetic cannot overflow), fitting the map.
        if s.nsems == 0
            || s.nsems > 32000
            || s.max_ops == 0
            || s.max_ops > 32000
            || s.nwait > NWAIT
            || s.nundo > NUNDO
            || s.jcap < legacy_jcap(s.max_ops)
            || s.jcap > new_jcap(32000, 32000)
            || s.total() > o.ctl_len()
        {
            return Err(Errno::EIO);
        }
        Ok(View {
            o,
            s,
            r: o.region(),
            h,
        })
    }
    /// The view of a set whose shape `s` [`View::new`] checked before
    /// (against this same mapping): only its `magic` is looked at again.
    #[inline]
    pub(super) fn known(o: &'a Obj, s: Shape) -> Result<View<'a>> {
        let r = o.region();
        let h: &SetHdr = r.at(0)?;
        if h.magic.load(Ordering::Acquire) != MAGIC {
            return Err(Errno::EIO);
        }
        Ok(View { o, s, r, h })
    }
    #[inline]
    pub(super) fn hdr(&self) -> &'a SetHdr {
        self.h
    }
    /// Whether the set's tail holds storage ([`SetHdr::tail`]).
    #[inline]
    pub(super) fn tail_reserved(&self) -> bool {
        self.hdr().tail.load(Ordering::Acquire) != 0
    }
    /// Gives the set's tail (its undo area when small, and its journal:
    /// [`Resv::tail_start`] to the end of the file) storage before its
    /// first use: a set is created without it (one `fallocate` of ~4
    /// pages less per `semget`, and their freeing at `IPC_RMID`). Called
    /// by whatever first writes there: an undo slot's take
    /// (`undo::undo_slot`, `fast::take_free`), a journaled change
    /// (`journal::journal_then`), a sleeper's enqueue (its grant is
    /// journaled). One header load once it is done. `ENOMEM` (nothing
    /// changed) when the file system has no room, as the kernel's `semop`
    /// that cannot allocate its undo structure.
    #[inline]
    pub(super) fn reserve_tail(&self) -> Result<()> {
        if self.tail_reserved() {
            return Ok(());
        }
        self.reserve_tail_now()
    }
    /// [`View::reserve_tail`]'s reservation: the tail's pages populated
    /// for writing through this process's mapping (`MADV_POPULATE_WRITE`,
    /// as a sleeper slot's page: one system call, no descriptor; the pages
    /// are the file's, as `fallocate` would give), then the flag set
    /// (**release**). Two first users may both populate: harmless (the
    /// second finds the pages there). A process killed between the two
    /// leaves the pages without the flag: the next user populates again
    /// (nothing to do) and sets it; `IPC_RMID`'s quick count
    /// ([`Resv::pages`]) then misses and the walk looks with `SEEK_DATA`.
    #[cold]
    #[inline(never)]
    pub(super) fn reserve_tail_now(&self) -> Result<()> {
        let start = Resv::of(&self.s).tail_start() as usize - HEADER_LEN;
        self.r.populate(start, self.s.total() - start)?;
        self.hdr().tail.store(1, Ordering::Release);
        Ok(())
    }
    /// The undo slots that may be in use ([`SetHdr::undo_hi`]).
    #[inline]
    pub(super) fn undo_used(&self) -> core::ops::Range<usize> {
        0..(self.hdr().undo_hi.load(Ordering::Acquire) as usize).min(self.s.nundo)
    }
    #[inline]
    pub(super) fn sem(&self, i: usize) -> Result<&'a Sem> {
        if i >= self.s.nsems {
            return Err(Errno::EIO);
        }
        self.r.elem(self.s.off_sems(), size_of::<Sem>(), i)
    }
    /// Semaphore `i`'s value for the set's lock holder, which is about to
    /// decide on it: the word is frozen first (see [`Sem::freeze`]).
    #[inline]
    pub(super) fn val(&self, i: usize) -> Result<i32> {
        Ok(self.freeze(i)?.val())
    }
    /// Freezes semaphore `i`'s word for the lock holder ([`Sem::freeze`])
    /// and, when a sleeper sleeps on it without a timer, wakes that
    /// sleeper first (`pending::prewake`): the holder may change the word.
    /// A word claimed by a lock-free `SEM_UNDO` operation is waited for,
    /// or its dead claimant's operation finished (`undo::settle`; `EBUSY`
    /// when its claimant is stopped: the caller lets the lock go).
    #[inline]
    pub(super) fn freeze(&self, i: usize) -> Result<SemWord> {
        let s = self.sem(i)?;
        let mut w = s.freeze();
        while w.claimed() {
            if w.tomb() {
                fence::fate(self.o)?;
            } else {
                settle(self, i, w)?;
            }
            w = s.freeze();
        }
        if w.parked() {
            prewake(self);
        }
        Ok(w)
    }
    /// [`Sem::freeze_here`] (the caller thaws the word), waiting for or
    /// settling a claim as [`View::freeze`] does.
    #[inline]
    pub(super) fn freeze_here(&self, s: &Sem, i: usize) -> Result<SemWord> {
        let mut w = s.freeze_here();
        while w.claimed() {
            if w.tomb() {
                fence::fate(self.o)?;
            } else {
                settle(self, i, w)?;
            }
            w = s.freeze_here();
        }
        Ok(w)
    }
    /// Semaphore `i`'s word as it stands, without the lock (one word: a
    /// value and its last pid read together).
    #[inline]
    pub(super) fn peek(&self, i: usize) -> Result<SemWord> {
        Ok(self.sem(i)?.load())
    }
    #[inline]
    pub(super) fn wslot(&self, i: usize) -> Result<&'a WaitHdr> {
        if i >= self.s.nwait {
            return Err(Errno::EIO);
        }
        self.r.elem(self.s.off_wait(), self.s.wsz(), i)
    }
    #[inline]
    pub(super) fn wop(&self, i: usize, k: usize) -> Result<&'a WaitOp> {
        if i >= self.s.nwait || k >= self.s.max_ops {
            return Err(Errno::EIO);
        }
        let ops = self.s.off_wait() + i * self.s.wsz() + size_of::<WaitHdr>();
        self.r.elem(ops, size_of::<WaitOp>(), k)
    }
    /// Slot `i`'s operations, into `out` (cleared first; reused by the
    /// caller so that a scan of the queue allocates at most once).
    pub(super) fn wops_into(&self, i: usize, out: &mut Vec<SemOp>) -> Result<()> {
        out.clear();
        let n = self.wslot(i)?.nsops.load(Ordering::Relaxed) as usize;
        if n == 0 || n > self.s.max_ops {
            return Err(Errno::EIO);
        }
        for k in 0..n {
            out.push(SemOp::unpack(self.wop(i, k)?.load(Ordering::Relaxed)));
        }
        Ok(())
    }
    #[inline]
    pub(super) fn uslot(&self, i: usize) -> Result<&'a UndoHdr> {
        if i >= self.s.nundo {
            return Err(Errno::EIO);
        }
        self.r.elem(self.s.off_undo(), self.s.usz(), i)
    }
    #[inline(always)]
    pub(super) fn adj(&self, i: usize, sem: usize) -> Result<&'a Adj> {
        if i >= self.s.nundo || sem >= self.s.nsems {
            return Err(Errno::EIO);
        }
        let adjs = self.s.off_undo() + i * self.s.usz() + size_of::<UndoHdr>();
        self.r.elem(adjs, size_of::<Adj>(), sem)
    }
    /// Intent record `k` of undo slot `i` ([`Intent`]).
    #[inline]
    pub(super) fn intent(&self, i: usize, k: usize) -> Result<&'a AtomicU64> {
        self.uslot(i)?.recs.get(k).ok_or(Errno::EIO)
    }
    /// Undo slot `i` and its adjustment for semaphore `sem`, the slot's
    /// place computed once (the lock-free `SEM_UNDO` path).
    #[inline(always)]
    pub(super) fn uslot_adj(&self, i: usize, sem: usize) -> Result<(&'a UndoHdr, &'a Adj)> {
        if i >= self.s.nundo || sem >= self.s.nsems {
            return Err(Errno::EIO);
        }
        let at = self.s.off_undo() + i * self.s.usz();
        Ok((
            self.r.at(at)?,
            self.r
                .elem(at + size_of::<UndoHdr>(), size_of::<Adj>(), sem)?,
        ))
    }
    #[inline]
    pub(super) fn jent(&self, k: usize) -> Result<&'a JEnt> {
        if k >= self.s.jcap() {
            return Err(Errno::EIO);
        }
        self.r.elem(self.s.off_journal(), size_of::<JEnt>(), k)
    }
}
