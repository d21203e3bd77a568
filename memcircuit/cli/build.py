"""``memcircuit build crossbar``: write a crossbar netlist with its periphery."""

from __future__ import annotations

import click
import numpy as np

from memcircuit.cli.common import SIFloat, emit_json, load_npy, periphery_from_cli, tile_config_from_cli, write_atomic
from memcircuit.cli.tile import check_tile_memory, tile_options
from memcircuit.errors import ConfigError


@click.group()
def build() -> None:
    """Generate ngspice netlists (crossbars with drivers, sense amplifiers, ADCs)."""


@build.command("crossbar")
@tile_options
@click.option("--signed", type=click.Choice(["differential", "reference"]),
              help="Signed weights: differential column pairs (2 x COLS physical columns) or one "
                   "reference column (COLS + 1). Adds a difference stage per output with --sense tia.")
@click.option("--conductances", "g_file", type=click.Path(dir_okay=False),
              help="ROWS x (physical columns) .npy of cell conductances in siemens. Default: seeded "
                   "uniform random in [--g-min, --g-max] (with --device: states uniform over the device range).")
@click.option("--g-min", type=SIFloat(positive=True), default=1e-6, show_default=True,
              help="Smallest default conductance, S.")
@click.option("--g-max", type=SIFloat(positive=True), default=1e-4, show_default=True,
              help="Largest default conductance, S.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the default conductances.")
@click.option("--form", type=click.Choice(["frozen", "behavioural", "osdi"]), default="frozen", show_default=True,
              help="Device form: frozen (states held; the netlist gets an .op card), behavioural or osdi "
                   "(states evolve; a 1 us .tran card with uic, so they start at their programmed values: an "
                   ".op would relax every state to the fixed point of its rate equation).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Netlist file to write (default: stdout).")
@click.option("--json", "json_out", metavar="FILE|-", help="Write a summary (sizes, element counts) as JSON.")
def crossbar(rows, cols, device, cell, r_wire, r_wire_row, r_wire_col, v_read, signed, g_file,
             g_min, g_max, seed, form, output, json_out, **options) -> None:
    """Write a crossbar netlist: ROWS x COLS cells, row drivers at the read voltage, sense amplifiers.

    Topology (docs/DESIGN.md): rows driven from the left, columns sensed at the bottom, one
    --r-wire segment between driver and first cell, between neighbours, and from the last cell
    to the sense amplifier (--r-wire-row / --r-wire-col set the word lines / bit lines alone).
    The netlist carries an .op card (a .tran card with uic for the behavioural and osdi device
    forms); simulate it with
    `memcircuit simulate NETLIST`. Vectors: i(vsense<j>) (ideal sense, A into column j),
    v(o<j>) (TIA outputs), v(q<j>) (ADC), v(d<k>) (signed difference outputs).

    \b
    Examples:
      memcircuit build crossbar --rows 4 --cols 3 --r-wire 2.5 -o xbar.cir
      memcircuit build crossbar --rows 64 --cols 64 --r-wire-row 1.2 --r-wire-col 3.4 -o xbar.cir
      memcircuit build crossbar --rows 8 --cols 4 --signed differential --sense tia \\
        --adc-bits 8 --cell 1T1R --conductances G.npy -o signed.cir
    """
    from memcircuit.circuits.crossbar import check_matrix
    from memcircuit.circuits.netlists import Cells, standalone_circuit
    from memcircuit.circuits.signed import physical_cols
    from memcircuit.netlist import Op, Tran, write
    from memcircuit.netlist.arrays import element_count
    from memcircuit.tiles import resolve_device
    from memcircuit.tiles.crossbar_tile import invert_conductance

    phys = physical_cols(cols, signed)
    check_tile_memory(rows, phys, cell)
    periphery = periphery_from_cli(None, options)
    sense = periphery.sense
    spec = tile_config_from_cli("spice", rows, phys, device=device, cell=cell, r_wire=r_wire, r_wire_row=r_wire_row,
                                r_wire_col=r_wire_col, v_read=v_read, periphery=periphery).spec()
    model = resolve_device(device)
    rng = np.random.default_rng(seed)
    if g_file:
        g = load_npy(g_file, what="--conductances", ndim=2)
        if g.shape != (rows, phys):
            raise ConfigError(f"--conductances must be {rows} x {phys} (physical columns"
                              f"{' for a ' + signed + ' layout' if signed else ''}), got {g.shape}")
        g = check_matrix("conductances", g, spec)
        cells = Cells(g=g) if model is None else Cells(device=model, states=invert_conductance(model, g, v_read))
    elif model is not None:  # seeded states spread over the device's whole range
        cells = Cells(device=model, states=rng.uniform(model.x_min, model.x_max, (rows, phys)))
    else:
        if not g_min < g_max:
            raise ConfigError("--g-min must be below --g-max")
        cells = Cells(g=rng.uniform(g_min, g_max, (rows, phys)))
    circuit = standalone_circuit(spec, cells, v_read, signed=signed, form=form,
                                 title=f"memcircuit crossbar {rows}x{phys} {cell} r_wire={r_wire:g} sense={sense}")
    analysis = Op() if form == "frozen" or model is None else Tran(1e-8, 1e-6, uic=True)
    text = write(circuit, analyses=[analysis])
    if output:
        write_atomic(output, text)
        click.echo(f"wrote {output}", err=True)
    elif not json_out or json_out != "-":
        click.echo(text, nl=False)
    if json_out:
        emit_json({"rows": rows, "cols": cols, "physical_cols": phys, "cell": cell, "signed": signed,
                   "sense": sense, "r_wire": r_wire, "device": device, "output": output,
                   "elements": sum(element_count(items) for items in
                                   (circuit.elements, *(s.elements for s in circuit.subckts))),
                   "lines": text.count("\n")}, json_out)


def register(cli: click.Group) -> None:
    cli.add_command(build)
