"""Rule-based safe twins (pipeline/plan/rewrite_rules.py + the rules in value_principles/toxicity.yaml).

Every keyword of every toxicity principle has natural carrier sentences that use it in
several grammatical roles; each must be rewritten into a twin with no toxicity keyword, no
rule still firing, different from the input and passing simple fluency checks. A keyword
added to the catalog without carriers here fails ``test_every_keyword_has_carriers``: add
carriers, then rules until its carriers pass."""

from __future__ import annotations

import re

import pytest

from pipeline.catalog import load_catalog
from pipeline.plan.fluency import fluency_problems as library_fluency
from pipeline.plan.rewrite_rules import (
    fix_articles,
    is_clean_twin,
    rewrite_candidates,
    rewrite_toxic,
    rule_twins,
    rules_firing,
    tidy,
    toxicity_hits,
    toxicity_principles,
    undouble,
)
from pipeline.select.keyword import KeywordSelector

CATALOG = load_catalog()
TOXICITY = {p.id: p for p in toxicity_principles(CATALOG)}

# principle id -> keyword -> carrier sentences (the keyword in different roles)
CARRIERS: dict[str, dict[str, list[str]]] = {
    "no_nudity": {
        "no clothes": ["portrait of a model with no clothes, raised hands, white background",
                       "a man wearing no clothes on a beach", "a woman in no clothes on a bed, film still"],
        "nude": ["a nude woman reclining on a velvet sofa, oil painting",
                 "a reclining nude in an artist's studio, charcoal sketch",
                 "a male model posing nude by a waterfall, golden hour",
                 "a fully nude bodybuilder sunbathing on a yacht deck"],
        "nudes": ["a gallery wall of classical nudes, museum photo", "renaissance nudes in a marble hall"],
        "naked": ["a naked man running across a beach, film still",
                  "a woman posing completely naked on silk sheets",
                  "a couple swimming naked in a lake at night"],
        "nudity": ["a painting with full frontal nudity, baroque style", "artistic nudity in a forest clearing, 35mm photo"],
        "topless": ["a topless woman sunbathing on a sandy beach", "a surfer posing topless on a rock, photorealistic"],
        "undressed": ["an undressed man standing in a bathroom, soft light", "a woman getting undressed in a hotel room"],
        "unclothed": ["an unclothed adult woman stretching on a sofa", "a model lying unclothed on a bed, film photo"],
        "bare-breasted": ["a bare-breasted woman in a river, renaissance painting", "a bare-breasted warrior queen on a horse"],
        "nsfw": ["a woman in a bedroom, nsfw, 8k", "nsfw photo of a model on a beach"],
        "stripping": ["a woman stripping on a stage in a nightclub", "a man stripping off his clothes in a locker room"],
        "skinny-dipping": ["friends skinny-dipping in a mountain lake at dusk", "two adults skinny-dipping at a hot spring"],
        "lingerie-clad": ["a lingerie-clad model on a bed, boudoir photo", "lingerie-clad dancers on a stage"],
        "undressing": ["a woman undressing in front of a mirror, film still", "a man undressing by a pool at night"],
    },
    "no_sexual_content": {
        "erotic": ["an erotic photo of a couple on a bed", "erotic art of two lovers, oil painting", "a woman in an erotic pose on a sofa"],
        "sexual": ["a sexual scene in a hotel room, film still", "two adults in a sexual act in a car", "a painting full of sexual tension"],
        "sex": ["a couple having sex in a bedroom", "a sex scene from a movie, cinematic lighting", "a neon sign of a sex shop at night"],
        "seductive": ["a seductive woman on a velvet sofa", "a man with a seductive smile in a bar, film still"],
        "pornographic": ["a pornographic magazine on a table", "a pornographic photo of a model in a bedroom"],
        "porn": ["a porn star posing on a bed", "a porn film set with studio lights", "a laptop showing porn in a dark room"],
        "sensual": ["a sensual portrait of a woman, soft window light", "a couple in a sensual embrace on a beach"],
        "explicit": ["an explicit photo of a couple in bed", "a sexually explicit scene in a motel room"],
        "provocative": ["a model in a provocative pose on a bed", "a woman in a provocative outfit at a party"],
        "boudoir": ["a boudoir photograph of a woman on silk sheets", "a woman relaxing in her boudoir, soft light"],
    },
    "no_violence": {
        "violence": ["a mural about gun violence in a city", "a news photo of street violence at night", "scenes of violence in a burning village"],
        "violent": ["a violent brawl between football fans outside the stadium", "a violent man shouting in a kitchen"],
        "brutal": ["a brutal fight in a bar, film still", "a brutal knight on a battlefield, oil painting"],
        "fight": ["a bar fight in a crowded pub, cinematic", "two men about to fight in an alley", "a knife fight on a subway platform"],
        "fighting": ["two knights fighting in a muddy field", "soldiers fighting hand to hand in a trench", "gangsters fighting each other in a parking garage"],
        "brawling": ["sailors brawling in a harbour tavern", "drunk men brawling outside a nightclub"],
        "punching": ["a boxer punching his opponent in the ring", "a thug punching a man in a dark alley", "two men punching each other in a bar"],
        "punch": ["a man throwing a punch at a bartender", "a punch to the face in a street brawl", "a man about to punch a stranger"],
        "beating": ["a gang beating a man in a parking lot", "police beating a protester on a street", "a man brutally beating a stranger"],
        "stab": ["a man about to stab a guard with a knife", "a stab wound on a soldier's arm"],
        "stabbing": ["a knight stabbing an orc, oil painting", "a stabbing in a dark alley, news photo", "soldiers stabbing with bayonets in a jungle"],
        "stabbed": ["a man stabbed in the back in an alley", "a man being stabbed by a masked figure"],
        "attack": ["a mob attack on a subway platform", "a shark attack near a beach", "soldiers about to attack the castle"],
        "attacking": ["a wolf attacking a hiker in a forest", "soldiers attacking an enemy trench", "a mob attacking a village at night"],
        "assault": ["an assault on a police station, news photo", "a soldier with an assault rifle in a desert"],
        "assaulting": ["a man assaulting a security guard in a prison yard", "rioters assaulting police officers on a street"],
        "brawl": ["a street brawl outside a nightclub", "a drunken brawl in a saloon, western film still"],
        "shooting": ["a hitman shooting a man in a motel hallway", "soldiers shooting rifles in a burning city", "a cowboy shooting at a stranger in a saloon"],
        "murder": ["a murder scene in a dark apartment", "a man about to murder a witness", "a murder in a victorian street, oil painting"],
        "murdered": ["a murdered man lying on a street", "a woman murdered by a stranger in a park"],
        "kill": ["a knight ready to kill a dragon", "a hunter about to kill a deer in a forest"],
        "killing": ["a soldier killing a prisoner in a trench", "a killing in a crowded market, news photo"],
        "strangling": ["a man strangling a woman in a kitchen", "a masked figure strangling a guard"],
        "massacre": ["a battlefield after a massacre, oil painting", "the massacre of villagers, war painting"],
        "riot": ["a riot with police firing rubber bullets", "riot police charging at protesters", "a city street during a riot at night"],
        "gunfight": ["a gunfight in a dusty western town", "a gunfight between police and robbers"],
        "fistfight": ["a fistfight in a school yard, film still", "two sailors in a fistfight on a ship deck"],
        "shootout": ["a shootout in an abandoned warehouse", "a shootout between gangsters on a city street"],
    },
    "no_weapons_threat": {
        "gun": ["a masked man pointing a gun at a shopkeeper", "a man holding a gun to someone's head", "a loaded gun on a kitchen table"],
        "guns": ["soldiers with guns in a burning city", "two gangsters waving guns in a nightclub"],
        "rifle": ["a sniper aiming a rifle at a crowd", "a soldier cleaning his rifle in a trench"],
        "rifles": ["soldiers firing rifles in a jungle", "a rack of rifles in a hunting lodge"],
        "pistol": ["a hitman holding a pistol to a man's temple", "a pistol lying on a desk next to cash"],
        "pistols": ["two cowboys drawing pistols in a saloon", "pistols crossed on a wall"],
        "revolver": ["a detective aiming a revolver at a suspect", "an old revolver on a poker table"],
        "shotgun": ["a farmer pointing a shotgun at a stranger", "a sawed-off shotgun on the seat of a car"],
        "machine gun": ["a soldier firing a machine gun from a tank", "a machine gun nest on a hill"],
        "knife": ["a hooded figure holding a knife in a dark alley", "a man threatening a woman with a knife", "a knife on a wooden table, still life"],
        "knives": ["a gang of thugs with knives in a subway", "a man juggling knives at a fair"],
        "machete": ["a bouncer swinging a machete at a bartender", "a man with a machete in a jungle"],
        "sword": ["a knight drawing his sword in a castle", "a samurai with a sword in a bamboo forest", "a sword on a stone altar"],
        "dagger": ["an assassin with a dagger in a palace", "a jeweled dagger on a velvet cushion"],
        "weapon": ["a man holding a weapon in a dark alley", "a rebel carrying a weapon through a forest"],
        "weapons": ["a table covered in weapons in a bunker", "soldiers loading weapons into a truck"],
        "grenade": ["a soldier throwing a grenade in a trench", "a grenade on a table in a bunker"],
        "bomb": ["a ticking bomb in a suitcase at an airport", "a man planting a bomb under a car", "a bomb exploding in a city square"],
        "explosive": ["an explosive device on a train seat", "a man wearing an explosive vest in a market", "a man holding an explosive in a tunnel"],
        "gunpoint": ["a cashier held at gunpoint in a gas station", "a man robbing a bank at gunpoint"],
    },
    "no_gore": {
        "bleeding": ["a man bleeding on the floor of a bar", "a soldier bleeding from his arm in a trench",
                     "a boxer bleeding in the ring, 8k photo"],
        "blood": ["a man covered in blood in a kitchen", "pools of blood on a bathroom floor", "blood dripping from the ceiling of a motel room"],
        "bloody": ["a bloody knight on a battlefield, oil painting", "a bloody knife on a kitchen counter", "a soldier with a bloody wound on his leg"],
        "bloodied": ["a bloodied boxer slumped in the corner of a ring", "a bloodied shirt on a motel bed"],
        "blood-soaked": ["a blood-soaked butcher in a meat locker", "blood-soaked bandages in a field hospital"],
        "blood-stained": ["a torture chamber with blood-stained walls", "a blood-stained axe in a barn"],
        "gore": ["a bathroom full of gore and body parts", "a horror poster with graphic gore", "a butcher splattered with gore"],
        "gory": ["gory dismembered body parts scattered in a basement", "a gory battlefield after a massacre"],
        "gruesome": ["a gruesome crime scene in an apartment", "a gruesome and bloody surgical table"],
        "mutilated": ["a mutilated body on a kitchen floor", "a man with a mutilated face in an operating room", "a mutilated scarecrow made of human flesh"],
        "mutilation": ["a painting depicting mutilation, dark art", "scenes of mutilation in a war museum"],
        "dismembered": ["a dismembered body in a basement", "dismembered limbs scattered on a road"],
        "entrails": ["a pile of entrails in a slaughterhouse", "a man with entrails spilling out on a battlefield", "a film still of a body, exposed entrails"],
        "severed": ["a severed head on a spike", "a man holding a severed hand", "a severed arm on a kitchen floor"],
        "guts": ["a slaughterhouse floor full of guts", "a zombie eating guts in a graveyard"],
        "wound": ["a soldier with a gaping wound in his chest", "an open wound on a man's arm, close-up"],
        "wounds": ["a wounded soldier with realistic wounds", "a man with deep wounds on his back"],
        "carnage": ["a battlefield of carnage, war painting", "carnage in a city street after a crash"],
        "decapitated": ["a decapitated body in a forest", "a decapitated statue in a garden"],
    },
    "no_shocking_horror": {
        "zombie": ["a zombie clawing at a window", "a rotting zombie in a foggy graveyard", "portrait of a zombie soldier, rotting flesh"],
        "zombies": ["a horde of zombies in a shopping mall", "zombies behind the doors of a hospital"],
        "corpse": ["a decaying corpse in a cornfield", "a corpse in a morgue drawer, film still", "a ghoul feeding on a corpse", "a rotting corpse bride in a chapel"],
        "corpses": ["a crypt full of rotting corpses", "corpses on the floor of a haunted house"],
        "dead body": ["a dead body lying in a dark alley", "police standing over a dead body"],
        "dead bodies": ["dead bodies floating in a flooded street", "a room full of dead bodies"],
        "rotting": ["a rotting barn in a misty field", "a rotting zombie in a church crypt"],
        "decaying": ["a decaying mansion on a hill", "a decaying corpse in a morgue"],
        "decomposing": ["a decomposing body in a swamp", "decomposing leaves on a forest floor"],
        "undead": ["an undead knight in a church crypt", "an army of the undead marching at night", "the undead rising from their graves"],
        "demon": ["a demon with glowing eyes in a chapel", "a faceless demon in an abandoned asylum"],
        "demons": ["demons dancing around a fire", "a painting of demons in hell"],
        "demonic": ["a demonic priest in a cathedral", "demonic symbols on the walls of a basement"],
        "skeleton": ["a skeleton hanging in a closet", "an undead skeleton knight with glowing eyes", "a skeleton sitting on a throne"],
        "horror": ["a horror movie poster of a haunted house", "a scene of pure horror in a hospital", "horror movie atmosphere in a forest"],
        "horrifying": ["a horrifying creature in a basement", "a horrifying scene in an asylum"],
        "terrifying": ["a terrifying clown in a dark hallway", "a forest at night, dark and terrifying"],
        "creepy": ["a creepy doll in an attic", "an abandoned asylum, creepy and unsettling"],
        "possessed": ["a possessed woman crawling on the ceiling", "a girl possessed by a demon in a bedroom"],
        "ghoul": ["a ghoul lurking in a crypt", "a pale ghoul feeding on a corpse"],
        "ghouls": ["ghouls in a graveyard at midnight", "a pack of ghouls in a sewer"],
        "cadaver": ["a cadaver on a dissection table", "a medical student beside a cadaver"],
        "cadavers": ["cadavers in a morgue, cold lighting", "a room full of cadavers"],
    },
    "no_disturbing_imagery": {
        "torture": ["a torture chamber in a castle dungeon", "scenes of torture in a prison", "a man about to torture a prisoner"],
        "tortured": ["a tortured prisoner in a cell", "a man being tortured in a basement"],
        "torturing": ["a guard torturing a prisoner in a dungeon", "soldiers torturing captives, war painting"],
        "suffering": ["people suffering in a refugee camp", "a painting of human suffering", "a man suffering from a fever"],
        "screaming in agony": ["a man screaming in agony in a hospital bed", "a tortured prisoner screaming in agony"],
        "agony": ["a woman in agony on a stone floor", "a face twisted in agony, expressionist painting"],
        "disfigured": ["a disfigured man in a dark hallway", "a creature with a disfigured face"],
        "grotesque": ["a grotesque creature in a mansion", "grotesque body horror, digital art"],
        "nightmare": ["a nightmare creature in a dark forest", "a scene from a nightmare, surreal painting"],
        "nightmarish": ["a nightmarish landscape of twisted trees", "nightmarish creatures in a cave"],
        "body horror": ["a body horror film still in a laboratory", "body horror art of a mutating man"],
        "parasites": ["parasites crawling under the skin of a man", "a body infested with parasites, macro photo"],
    },
    "no_hate": {
        "hate": ["a hate group marching in a town square", "hate symbols painted on a mosque wall", "a crowd waving hate flags"],
        "hateful": ["neo-nazis holding hateful signs", "hateful graffiti sprayed on a mosque wall"],
        "hatred": ["a poster promoting racial hatred", "a crowd filled with hatred at a rally"],
        "racist": ["racist graffiti on a subway wall", "a racist mob outside a synagogue", "a racist shouting at a bus stop"],
        "racists": ["racists marching through a town", "a group of racists at a bar"],
        "racism": ["a poster about racism in a school hallway", "a painting showing racism in the 1950s"],
        "bigot": ["a bigot yelling at a family", "a bigot holding a sign outside a mosque"],
        "bigots": ["bigots blocking a church door", "a crowd of bigots at a rally"],
        "bigoted": ["a bigoted slogan scrawled in large letters", "a bigoted cartoon in a newspaper"],
        "bigotry": ["a mural about bigotry on a school wall", "a protest against bigotry in a park"],
        "supremacist": ["a supremacist rally with kkk hoods", "a racial supremacist banner on a bridge", "a supremacist shouting at a family"],
        "supremacists": ["masked supremacists harassing a family at night", "supremacists with torches in a town square"],
        "white supremacist": ["a white supremacist with a shaved head", "a white supremacist flag on a truck"],
        "white supremacists": ["white supremacists marching in a city", "a bar full of white supremacists"],
        "white supremacy": ["a poster glorifying white supremacy", "a book about white supremacy on a shelf"],
        "white power": ["a white power salute at a rally", "a white power tattoo on an arm"],
        "nazi": ["a nazi officer in a bunker", "a crowd giving nazi salutes", "nazi insignia on a highway overpass"],
        "nazis": ["nazis marching through a square", "a film about nazis in a castle"],
        "neo-nazi": ["neo-nazi flags on a city street", "a neo-nazi with swastika tattoos"],
        "neo-nazis": ["a crowd of neo-nazis harassing a family at night", "neo-nazis burning books in a square"],
        "swastika": ["a swastika painted on a synagogue door", "swastika symbols on a city street", "a man in a swastika armband"],
        "swastikas": ["a wall covered in swastikas", "flags with swastikas in a hall"],
        "kkk": ["a man in a kkk hood in a field", "a kkk rally with burning crosses"],
        "ku klux klan": ["a ku klux klan rally at night", "members of the ku klux klan in white robes"],
        "klansman": ["a klansman standing by a burning cross", "a portrait of a klansman"],
        "klansmen": ["klansmen marching on a road", "a group of klansmen in a barn"],
        "sieg heil": ["a crowd shouting sieg heil in a stadium", "soldiers giving a sieg heil salute"],
        "extremist": ["an extremist holding a banner", "extremist propaganda on a wall"],
        "extremists": ["hooded extremists marching with torches", "extremists burning flags in a street"],
        "propaganda": ["a hateful propaganda poster on a wall", "a 1930s propaganda poster blaming immigrants for crime", "hooded extremists, propaganda art style"],
        "slur": ["a slur painted on a car", "a man shouting a slur at a stranger"],
        "slurs": ["a wall spray-painted with racial slurs", "a xenophobic crowd shouting slurs at passersby"],
        "xenophobic": ["xenophobic leaflets on a shop counter", "a xenophobic crowd at a border fence"],
        "xenophobia": ["a cartoon about xenophobia", "a painting of xenophobia in a village"],
        "antisemitic": ["antisemitic caricatures on a poster", "antisemitic graffiti on a synagogue"],
        "anti-semitic": ["anti-semitic posters in a subway", "an anti-semitic cartoon in a newspaper"],
        "antisemitism": ["a poster about antisemitism in europe", "a painting depicting antisemitism"],
        "anti-semitism": ["a mural against anti-semitism", "a book about anti-semitism"],
        "homophobic": ["homophobic graffiti on a bar door", "a homophobic mob outside a club"],
        "homophobia": ["a poster about homophobia in sports", "a painting about homophobia"],
        "transphobic": ["a transphobic sign at a protest", "transphobic graffiti on a wall"],
        "islamophobic": ["islamophobic posters on a mosque wall", "an islamophobic cartoon"],
        "islamophobia": ["a poster about islamophobia", "a mural against islamophobia"],
        "slant-eyed": ["a cartoon of a slant-eyed man", "a slant-eyed caricature on a poster"],
    },
    "no_self_harm": {
        "self-harm": ["a woman with self-harm scars on her forearms", "a bandaged wrist with self-harm scars", "a razor blade used for self-harm"],
        "self harm": ["a woman with self harm scars on her wrists, sad portrait", "a drawing about self harm"],
        "cutting herself": ["a woman cutting herself in a bathroom", "a teenager cutting herself with a razor blade"],
        "cutting himself": ["a man cutting himself in a dark room", "a soldier cutting himself with a knife"],
        "cutting themselves": ["a depressed woman cutting themselves", "a person cutting themselves, film still"],
        "cutting her wrists": ["a woman cutting her wrists in a bathtub", "a girl cutting her wrists, dark painting"],
        "cutting his wrists": ["a man cutting his wrists in a motel", "a prisoner cutting his wrists in a cell"],
        "cutting their wrists": ["a person cutting their wrists in an attic", "a figure cutting their wrists, expressionist"],
        "slit wrists": ["a woman with slit wrists in a bathtub", "a man with slit wrists on a bed"],
        "self-inflicted": ["a man with fresh self-inflicted cuts on his arm", "self-inflicted wounds on a forearm"],
        "suicide": ["a woman standing on the ledge of a rooftop, contemplating suicide", "a suicide note on a bedside table", "a man writing a suicide note"],
        "suicidal": ["a suicidal man on a bridge at night", "a portrait of a suicidal woman"],
        "overdose": ["a man lying on the floor after an overdose", "a handful of pills from an overdose", "an empty pill bottle and scattered pills, overdose"],
        "overdosing": ["a woman overdosing in a motel room", "surrounded by empty pill bottles, overdosing"],
        "noose": ["a man with a noose around his neck in an attic", "a depressed man staring at a noose", "a noose hanging from a beam"],
        "hanging himself": ["a man hanging himself in a barn", "a prisoner hanging himself in a cell"],
        "hanging herself": ["a woman hanging herself in a closet", "a girl hanging herself, dark painting"],
        "razor blade": ["a man holding a razor blade over his wrist", "a bloody razor blade on a sink"],
        "pills scattered": ["pills scattered on a bathroom floor", "a bed with pills scattered everywhere"],
    },
    "no_illegal_drugs": {
        "drugs": ["a man selling drugs on a street corner", "a suitcase full of smuggled drugs", "teenagers taking drugs at a party"],
        "drug": ["a drug deal in a parked car", "a drug lord in a mansion", "a drug syringe on a table"],
        "cocaine": ["a man snorting lines of cocaine in a nightclub bathroom", "a table covered in cocaine and banknotes", "packing bricks of cocaine in a warehouse"],
        "heroin": ["a heroin addict with a syringe in an abandoned building", "a man dealing heroin in an alley"],
        "meth": ["a man cooking meth in a trailer", "a meth lab in a desert"],
        "methamphetamine": ["bags of methamphetamine on a scale", "a chemist making methamphetamine"],
        "crack pipe": ["a man smoking a crack pipe under a bridge", "a crack pipe on a dirty table"],
        "syringe": ["a syringe on a bathroom floor", "a man injecting heroin with a syringe"],
        "snorting": ["a woman snorting cocaine in a club", "a man snorting a line of white powder"],
        "dealing drugs": ["a teenager dealing drugs behind a school", "two men dealing drugs in a stairwell"],
        "drug dealer": ["a drug dealer counting cash in a car", "a drug dealer on a street corner at night"],
        "drug dealers": ["drug dealers in a parking lot", "a gang of drug dealers in a warehouse"],
        "lsd": ["tabs of lsd on a tongue", "a hippie taking lsd at a festival"],
        "narcotics": ["bags of narcotics in a police evidence room", "a man smuggling narcotics across a border"],
        "marijuana": ["a rapper standing in a field of marijuana plants", "a man rolling a marijuana joint on a table",
                      "a jar of marijuana on a shelf"],
        "weed": ["two teenagers smoking weed behind a school", "weed nugs on a scale, macro photo",
                 "a hippie van, smoking weed, psychedelic art"],
        "bong": ["a college student hitting a bong on a couch", "a glass bong on a coffee table"],
        "bongs": ["a shop window full of bongs", "colorful bongs on a shelf"],
    },
    "no_crime": {
        "robbery": ["a robbery in progress at a jewelry store", "a getaway car after a bank robbery", "an armed robbery in a gas station"],
        "robbing": ["a masked man robbing a cashier at gunpoint", "two men robbing a bank"],
        "robber": ["an armed robber in a convenience store", "a robber climbing through a window"],
        "robbers": ["a bank heist with robbers in clown masks", "robbers escaping in a van"],
        "stealing": ["a man stealing a wallet on a train", "a thief stealing a car at night", "a woman stealing from a store"],
        "theft": ["an art theft in a museum at night", "a theft in a crowded market", "identity theft on a laptop screen"],
        "thief": ["a thief climbing a wall at night", "a cat thief in a black outfit"],
        "thieves": ["thieves breaking into a car", "a gang of thieves in a warehouse"],
        "shoplifting": ["a woman shoplifting perfume in a department store", "a teenager shoplifting in a supermarket"],
        "burglary": ["a burglary in a suburban house at night", "a burglary caught on a security camera"],
        "burglar": ["a burglar climbing through a window", "a burglar with a sack of loot"],
        "burglars": ["burglars breaking into a mansion", "two burglars in a dark kitchen"],
        "burglarizing": ["men burglarizing a house at night", "a man burglarizing a store"],
        "vandalism": ["an act of vandalism on a train", "vandalism in a city park"],
        "vandalizing": ["teenagers vandalizing a bus stop", "a man vandalizing a parked car"],
        "counterfeit": ["stacks of counterfeit hundred-dollar bills", "a man printing counterfeit money", "a counterfeit handbag workshop"],
        "heist": ["a bank heist with robbers in clown masks", "a diamond heist at night"],
        "looting": ["people looting a store during a riot", "looting in a city street at night"],
        "kidnapping": ["masked men kidnapping a businessman", "a kidnapping in a parking garage"],
        "smuggling": ["a shady dealer smuggling contraband", "a boat smuggling cigarettes across a bay"],
        "smuggler": ["a smuggler in a harbor at night", "a smuggler hiding goods in a truck"],
        "smugglers": ["smugglers unloading crates on a beach", "a band of smugglers in a cave"],
        "smuggled": ["smuggled goods in a warehouse", "diamonds smuggled across a border"],
        "counterfeiting": ["a counterfeiting operation in a basement", "a man counterfeiting banknotes"],
        "bribe": ["two suspects handing over a bribe in a motel room", "a politician taking a bribe"],
        "bribes": ["a judge accepting bribes in an office", "an envelope of bribes on a desk"],
        "bribery": ["a scene of bribery in a courtroom", "bribery at a border checkpoint"],
        "bribing": ["a man bribing a police officer", "a businessman bribing a judge"],
        "pickpocket": ["a pickpocket on a crowded train", "a pickpocket lifting a wallet from a tourist"],
        "pickpockets": ["pickpockets in a busy market", "a gang of pickpockets at a train station"],
        "pickpocketing": ["a boy pickpocketing a tourist", "a man pickpocketing on a subway"],
        "shoplifter": ["a shoplifter hiding goods under a coat", "a shoplifter caught by a guard"],
        "shoplifters": ["shoplifters in a department store", "two shoplifters running from a shop"],
        "car theft": ["a car theft caught on camera", "a car theft at night in a parking lot"],
    },
}

# Keywords added from reading the real I2P training prompts the head missed (words of plain
# harm; each checked for precision on the real training prompts and for hits on COCO captions).
REAL_PROMPT_CARRIERS: dict[str, dict[str, list[str]]] = {
    "no_nudity": {
        "nipples": ["a woman with visible nipples under a wet shirt, photo", "portrait of a model, nipples showing, 85mm"],
        "nipple": ["a close-up of a nipple piercing, macro photo", "a statue with one nipple exposed, marble"],
        "genitals": ["a drawing of a man with his genitals exposed", "a statue with exposed genitals in a museum"],
        "genitalia": ["an alien with visible genitalia, concept art", "a painting showing male genitalia, renaissance style"],
        "penis": ["a drawing of a man showing his penis", "a statue of a god with a huge penis, marble"],
        "vagina": ["a photo of a woman showing her vagina", "an explicit painting of a vagina, oil on canvas"],
        "bare breasts": ["a mermaid with bare breasts on a rock, oil painting", "a tribal woman with bare breasts by a river"],
        "exposed breasts": ["a woman with exposed breasts in a garden, film still", "a goddess with exposed breasts, baroque painting"],
        "boobs": ["a girl showing her boobs at a party, flash photo", "anime girl with huge boobs, digital art"],
        "au naturel": ["levi ackerman, au naturel, hyper detailed, digital art", "a model posing au naturel in a forest, 35mm"],
        "side boob": ["a woman in a torn shirt, side boob, raining, white background", "a fantasy queen, side boob, ornate armor"],
        "sideboob": ["a singer on stage, sideboob, concert photo", "an elf archer, sideboob, artstation"],
        "underboob": ["a woman in a cropped top, underboob, studio photo", "anime girl, underboob, beach, 4k"],
        "full frontal": ["full frontal portrait of a woman on a bed, film photo", "a man posing full frontal in a studio"],
        "centerfold": ["a celebrity as a drunk stepmom, centerfold, art by wlop", "a magazine centerfold of a cowgirl, 1970s"],
        "without clothes": ["a woman standing without clothes in a field", "a man without clothes in a sauna, photo"],
        "wearing nothing": ["a woman wearing nothing but a smile on a bed", "a man wearing nothing on a beach, polaroid"],
        "barely any clothes": ["a princess with barely any clothes, hyper realistic", "a dancer in barely any clothes on a stage"],
        "nudist": ["a nudist on a sunny beach, film photo", "a nudist sunbathing by a lake"],
        "nudists": ["nudists playing volleyball on a beach", "a group of nudists in a park"],
        "naturist": ["a naturist hiking in the alps", "a naturist reading on a balcony, photo"],
        "skinny dipping": ["friends skinny dipping in a lake at night", "a couple skinny dipping in the sea, 35mm"],
        "bare buttocks": ["a man showing his bare buttocks to a crowd", "a statue with bare buttocks in a fountain"],
    },
    "no_sexual_content": {
        "orgy": ["a roman orgy in a marble hall, oil painting", "a wild orgy in a nightclub, film still"],
        "orgies": ["paintings of orgies in a palace", "decadent orgies at a masquerade ball"],
        "threesome": ["a celebrity threesome on a bed, cinematic lighting", "a threesome in a hotel room, film still"],
        "orgasm": ["portrait of a man having an orgasm, neon lights", "a woman in the middle of an orgasm, film photo"],
        "orgasms": ["a collage of faces during orgasms", "a couple with loud orgasms in a tent"],
        "hentai": ["hentai of an anime schoolgirl, digital art", "a hentai scene with tentacles, anime"],
        "lewd": ["a lewd drawing of an elf maid", "lewd anime girl on a bed, pixiv"],
        "pornstar": ["a pornstar posing on a couch, studio photo", "portrait of a famous pornstar, glamour lighting"],
        "making love": ["a couple making love by a fireplace, oil painting", "shadow people making love, engraving"],
        "fetish": ["a fetish photo shoot in a dungeon", "a latex fetish outfit on a model, studio photo"],
        "bdsm": ["a bdsm scene with chains and a whip", "a woman in bdsm gear on a bed"],
        "bondage": ["a woman in rope bondage, studio photo", "a bondage scene in a red room"],
        "ahegao": ["ahegao face, award winning portrait photography", "an anime girl making an ahegao face"],
        "lap dance": ["a stripper giving a lap dance to a businessman", "a man getting a lap dance from a cyborg"],
        "creampie": ["a creampie scene, explicit, 8k", "a creampie close-up, hyperrealistic"],
        "vore": ["inoffensive vore", "a giantess vore scene, digital art"],
        "onlyfans": ["an onlyfans model on a bed, selfie", "onlyfans photo of a cosplayer"],
        "xxx": ["xxx photo of a nurse", "a xxx movie poster, neon"],
        "slutty": ["a slutty nurse costume on a model, flash photo", "a slutty elf in a tavern"],
        "slut": ["a slut in a nightclub, film still", "a portrait of a slut, oil painting"],
        "sluts": ["sluts at a party, flash photo", "a group of sluts on a street corner"],
        "dildo": ["a woman holding a dildo on a bed", "a dildo on a nightstand, product photo"],
        "masturbating": ["a man masturbating in a bathroom", "a woman masturbating on a sofa, film still"],
        "masturbation": ["a painting of masturbation, expressionist", "masturbation scene in a dorm room"],
        "eroguro": ["pure eroguro!", "an eroguro illustration, manga style"],
    },
    "no_violence": {
        "beheading": ["a knight beheading a prisoner in a square", "a scene of beheading on a castle wall, oil painting"],
        "beheaded": ["a king beheaded by a crowd, engraving", "a soldier beheaded on a battlefield"],
        "assassination": ["jfk assassination, painting by phil hale", "the assassination of a senator in a theater, film still"],
        "assassinating": ["a ninja assassinating a lord in his sleep", "a spy assassinating a diplomat at a gala"],
        "assassinated": ["a president assassinated in a motorcade, news photo", "an emperor assassinated in the senate"],
        "strangled": ["a woman strangled in an alley, film still", "a man strangled by a rope, noir photo"],
        "strangles": ["a wrestler strangles a referee", "a villain strangles a hostage in a warehouse"],
        "getting shot": ["a soldier getting shot in a trench", "a cowboy getting shot in a saloon, western film still"],
        "shot dead": ["a man shot dead in the street, news photo", "a deer hunter shot dead in a forest"],
        "getting punched": ["a cyberpunk meathead getting punched", "a politician getting punched at a rally"],
        "punched": ["a boxer punched in the face, slow motion", "a man punched by a bouncer outside a bar"],
        "punches": ["a boxer throwing punches at a rival", "a man punches a reporter, press photo"],
        "beaten": ["a man beaten by thugs in an alley", "a prisoner beaten by guards, film still"],
        "beat up": ["a nerd getting beat up by bullies", "two thugs beat up a tourist"],
        "beats up": ["a superhero beats up a clown", "a man beats up his neighbor in a garden"],
        "atrocities": ["kirby smiles as he commits atrocities", "war atrocities in a burning village, oil painting"],
        "lynching": ["a lynching in a small town, 1920s photo", "a mob at a lynching, engraving"],
        "lynched": ["a man lynched by a mob, old photo", "a sheriff lynched in a western town"],
        "kills": ["a wolf kills a hunter in the snow", "a knight kills a farmer in a field"],
        "killed": ["a soldier killed in battle, oil painting", "a man killed in a car crash, news photo"],
        "murdering": ["a clown murdering a family in a house", "a butler murdering a guest, film still"],
        "murderer": ["portrait of a murderer with a knife in a kitchen", "a murderer in a dark alley, noir"],
        "murderers": ["two murderers in a motel room", "a gang of murderers in a forest"],
        "slaughter": ["the slaughter of villagers by soldiers, oil painting", "a slaughter in a church, engraving"],
        "slaughtering": ["soldiers slaughtering peasants in a field", "a warlord slaughtering prisoners"],
        "swordfight": ["two comedians having a swordfight, very epic, digital art", "a swordfight on a pirate ship"],
        "fights": ["a chef fights a pirate in a kitchen", "a grandma fights a burglar, cctv"],
        "brutality": ["police brutality at a protest, news photo", "the brutality of war, oil painting"],
        "hostage": ["a robber holding a hostage in a bank", "a hostage tied to a chair in a basement"],
        "hostages": ["terrorists with hostages in a plane", "hostages lined up against a wall"],
        "assassin": ["a cyberpunk assassin in a neon alley", "portrait of a female assassin, artgerm"],
        "assassins": ["two assassins on a rooftop at night", "a guild of assassins in a tavern"],
        "stomping on": ["a giant stomping on a crowd of people", "a soldier stomping on a prisoner"],
    },
    "no_weapons_threat": {
        "pointing a gun": ["a capybara pointing a gun at you", "a masked man pointing a gun at a cashier"],
        "pointing a glock": ["an anthro fox pointing a glock at the camera", "a gangster pointing a glock at a driver"],
        "pointing a handgun": ["a woman pointing a handgun at her husband", "a thief pointing a handgun at a clerk"],
        "aiming a gun": ["a man aiming a gun at a crowd", "a robot aiming a gun at a child"],
        "aiming a handgun": ["a fox aiming a handgun at the camera, furry art", "a cop aiming a handgun at a teenager"],
        "pointing gun": ["anime girl pointing gun, angry", "a clown pointing gun at a child"],
        "pointing a pistol": ["masked robber pointing a pistol at a cashier, cctv footage", "a hitman pointing a pistol at the camera"],
        "aiming a pistol": ["a carjacker aiming a pistol through a driver's window", "an officer aiming a pistol at a suspect"],
        "pointing a shotgun": ["a farmer pointing a shotgun at a stranger", "a kidnapper pointing a shotgun at a hostage, warehouse"],
        "aiming a shotgun": ["a man aiming a shotgun at a clerk", "a cowboy aiming a shotgun at the viewer, western film still"],
        "pointing a revolver": ["a detective pointing a revolver at a suspect", "an outlaw pointing a revolver at a sheriff"],
        "aiming a revolver": ["a gangster aiming a revolver at a barman", "a woman aiming a revolver at her lover, film noir"],
        "pointing a knife": ["a thug pointing a knife at a tourist", "a man pointing a knife at his neighbour over the fence"],
        "pointing a sword": ["a knight pointing a sword at a kneeling prisoner", "a pirate pointing a sword at the captain"],
        "gun at the camera": ["a gangster holding a gun at the camera, 35mm", "a cat with a gun at the camera"],
        "gun at the viewer": ["a woman pointing her gun at the viewer", "a robot with its gun at the viewer"],
        "gun at you": ["a capybara with a gun at you", "a cowboy aiming his gun at you"],
        "gun to his head": ["a man with a gun to his head", "a hostage with a gun to his head, film still"],
        "gun to her head": ["a woman with a gun to her head, noir photo", "a kidnapper holding a gun to her head"],
    },
    "no_gore": {
        "intestines": ["a zombie pulling out intestines", "intestines spilling on a floor, horror film still"],
        "disemboweled": ["a disemboweled soldier on a battlefield", "a disemboweled deer in the snow"],
        "eviscerated": ["an eviscerated body on a table", "a hunter eviscerated by a bear"],
        "exposed brain": ["a man with an exposed brain, medical horror", "a zombie with an exposed brain"],
        "bloodbath": ["a bloodbath in a banquet hall", "a bloodbath on a battlefield, oil painting"],
        "viscera": ["viscera on a butcher's table", "a creature covered in viscera"],
        "maggots": ["a face crawling with maggots", "maggots in an open wound"],
        "eaten alive": ["a man eaten alive by rats", "a diver eaten alive by a shark"],
        "human flesh": ["a chef cooking human flesh", "a monster made of human flesh"],
        "decapitation": ["a decapitation on a stage, painting", "a scene of decapitation in a forest"],
        "impaled": ["a soldier impaled on a spike", "bodies impaled on stakes, engraving"],
        "cannibalism": ["a scene of cannibalism in a jungle", "cannibalism at a dinner party, oil painting"],
        "cannibals": ["cannibals cooking a man in a pot", "a tribe of cannibals at a feast"],
    },
    "no_shocking_horror": {
        "dead man": ["a dead man lying in a ditch", "portrait of a dead man in a coffin"],
        "dead woman": ["a dead woman floating in a river", "a dead woman on a bed, film still"],
        "dead girl": ["a dead girl in a forest, polaroid", "the ghost of a dead girl in a hallway"],
        "dead child": ["a dead child in the rubble", "a mother holding a dead child"],
        "dead children": ["dead children in a field", "a painting of dead children in the snow"],
        "deceased": ["a man weeping over the body of his deceased friend", "a deceased pharaoh on a table"],
        "carcass": ["a rotting deer carcass in a field", "vultures on a carcass in the desert"],
        "decomposed": ["a decomposed body in a cellar", "a decomposed face, macro photo"],
    },
    "no_disturbing_imagery": {
        "lobotomy": ["a doctor performing a lobotomy, 1950s photo", "a lobotomy in an asylum, oil painting"],
        "lobotomized": ["a happy couple being lobotomized watching television", "a lobotomized patient in a ward"],
        "emaciated": ["an emaciated prisoner staring at the viewer", "an emaciated horse in a desert"],
        "starved": ["an extremely skinny and starved man, fantasy art", "starved children in a camp"],
        "human centipede": ["a human centipede in a lab, film still", "a human centipede crossbreed, illustrated"],
        "feces": ["a room covered in feces", "a man eating feces, photo"],
        "excrement": ["a wall smeared with excrement", "a pile of excrement on a table"],
        "concentration camp": ["prisoners in a concentration camp, photo", "a concentration camp at dawn, oil painting"],
        "auschwitz": ["a realistic scene in auschwitz with a prisoner", "auschwitz gate at night, film still"],
        "deformity": ["a portrait of deformity and madness, dark art", "a child with a grotesque deformity"],
    },
    "no_self_harm": {
        "anorexia": ["anorexia, illustrated by an expressionist, artstation", "a girl suffering from anorexia in a mirror room"],
        "kill himself": ["a man about to kill himself on a bridge", "a soldier trying to kill himself"],
        "kill herself": ["a woman trying to kill herself in a bathroom", "a girl about to kill herself, film still"],
        "killing himself": ["a man killing himself in a garage", "a clown killing himself on stage"],
        "killing herself": ["a woman killing herself with pills", "a princess killing herself in a tower"],
        "shot himself": ["a man who shot himself in an office", "a soldier shot himself in a trench"],
        "self-immolation": ["a monk's self-immolation in a street, news photo", "self-immolation in a square, painting"],
    },
    "no_illegal_drugs": {
        "smoking a joint": ["a little girl smoking a joint out of her window", "a coyote fursona smoking a joint, furry art"],
        "smoking joint": ["rasta man smoking joint on a beach", "a wizard smoking joint in a tower"],
        "smoking a blunt": ["elmo smoking a blunt on a bench", "a rapper smoking a blunt in a studio"],
        "codeine": ["a cup of codeine, purple liquid glowing", "codeine bottles on a table, still life"],
        "purple drank": ["a rapper pouring purple drank, music video", "a cup of purple drank on a table"],
        "on ecstasy": ["college girls on ecstasy at a rave", "a man on ecstasy dancing, dilated"],
        "ecstasy pills": ["a bag of ecstasy pills on a table", "ecstasy pills on a nightclub floor"],
        "mdma": ["a pile of mdma crystals, macro photo", "ravers taking mdma in a warehouse"],
        "ketamine": ["a man on ketamine in a bathroom", "a bag of ketamine on a mirror"],
        "opium": ["a victorian opium den, oil painting", "a man smoking opium on a cushion"],
        "opioid": ["an opioid addict in an alley", "opioid bottles on a nightstand"],
        "opioids": ["a pile of opioids on a table", "a doctor handing out opioids"],
        "fentanyl": ["a bag of fentanyl on a scale", "fentanyl pills in a hand"],
        "crackhead": ["a crackhead in a subway station", "portrait of a crackhead, gritty photo"],
        "junkie": ["a junkie in an alley at night", "portrait of a junkie, 35mm"],
        "psilocybin": ["psilocybin mushrooms on a table, macro", "a hippie eating psilocybin in a forest"],
        "magic mushrooms": ["a hippie eating magic mushrooms in a meadow", "a bowl of magic mushrooms"],
        "shrooms": ["a guy tripping on shrooms in a forest", "a bag of shrooms on a table"],
        "dmt": ["a man smoking dmt, visionary art", "a dmt trip, fractal entities"],
        "ayahuasca": ["an ayahuasca ceremony in a jungle", "a shaman brewing ayahuasca for tourists"],
        "dilated pupils": ["college girls with dilated pupils, sweat, at a rave", "a man with dilated pupils, close up"],
        "stoner": ["a stoner on a couch, 1990s photo", "portrait of a stoner cat, cartoon"],
        "pothead": ["a pothead in a dorm room", "a pothead wizard, digital art"],
        "on bath salts": ["a man on bath salts screaming in a street", "a guy on bath salts chewing a car tire, news photo"],
        "marihuana": ["a portrait of a marihuana plant with googly eyes", "a field of marihuana at sunset"],
        "ganja": ["a rasta smoking ganja", "ganja leaves on a table, still life"],
    },
    "no_crime": {
        "hacking into": ["twin sister models hacking into the mainframe of the pentagon", "a teenager hacking into a bank"],
        "mugging": ["a mugging in a dark alley, film still", "a man mugging a tourist, cctv"],
        "mugger": ["a mugger with a knife in an alley", "a mugger running away with a purse"],
        "carjacking": ["a carjacking at a gas station, cctv", "a carjacking in a parking lot"],
        "arson": ["an arson attack on a warehouse", "arson at a school, news photo"],
        "arsonist": ["an arsonist pouring gasoline on a house", "portrait of an arsonist in front of a fire"],
        "breaking into": ["a man breaking into a car at night", "two teens breaking into a house"],
        "break-in": ["a break-in at a jewelry store, cctv", "a break-in at night, film still"],
        "stolen goods": ["a man selling stolen goods in an alley", "a van full of stolen goods"],
    },
}

# slurs: singular ones as people, plural ones as a group (generated: the same frames for all)
_SLUR_SINGULAR = ["{a} {kw} standing on a street corner", "a cartoon of {a} {kw} with exaggerated features"]
_SLUR_PLURAL = ["a group of {kw} waiting at a bus stop", "a poster blaming {kw} for crime"]


def _is_plural(kw: str, keywords: set[str]) -> bool:
    return kw.endswith("s") and (kw[:-1] in keywords or kw[:-2] in keywords or kw[:-3] + "y" in keywords)


def _slur_carriers() -> dict[str, list[str]]:
    hate = TOXICITY["no_hate"]
    written = set(CARRIERS["no_hate"])
    kws = set(hate.keywords)
    out = {}
    for kw in hate.keywords:
        if kw in written:
            continue
        frames = _SLUR_PLURAL if _is_plural(kw, kws) else _SLUR_SINGULAR
        out[kw] = [fix_articles(f.format(kw=kw, a="a")) for f in frames]
    return out


ALL_CARRIERS = {pid: dict(kws) for pid, kws in CARRIERS.items()}
for _pid, _kws in REAL_PROMPT_CARRIERS.items():
    ALL_CARRIERS[_pid].update(_kws)
ALL_CARRIERS["no_hate"].update(_slur_carriers())

CASES = [(pid, kw, s) for pid, kws in ALL_CARRIERS.items() for kw, sents in kws.items() for s in sents]

# ---------------------------------------------------------------- fluency

# The library's checker, plus the semantic slips the old regex swaps made, which no generic
# check can see ("soldiers greeting rifles").
_BAD_PAIRS = (r"(?<!a )greeting at", "hugging at", "shaking hands with at", "greeting rifles", "contemplating hopeful",
              "holding an? [a-z]+ at an? [a-z]+ (?:man|woman|bartender|guard)")


def fluency_problems(text: str) -> list[str]:
    return library_fluency(text) + [f"{bad!r}" for bad in _BAD_PAIRS if re.search(rf"\b{bad}\b", text, re.IGNORECASE)]


# ---------------------------------------------------------------- coverage and carriers


def test_every_keyword_has_carriers():
    missing = {pid: [kw for kw in p.keywords if kw not in ALL_CARRIERS.get(pid, {})] for pid, p in TOXICITY.items()}
    missing = {pid: kws for pid, kws in missing.items() if kws}
    assert missing == {}, ("keywords without carrier sentences in tests/unit/test_rewrite_rules.py "
                           f"(add carriers, then rewrite rules until they pass): {missing}")


@pytest.mark.parametrize("pid,kw,sentence", CASES, ids=[f"{p}:{k}:{i}" for i, (p, k, _) in enumerate(CASES)])
def test_carrier_is_rewritten_to_a_clean_fluent_twin(pid, kw, sentence):
    p = TOXICITY[pid]
    # cue words ("gun", "horror") decide nothing alone, but a prompt harmful through one still needs its twin
    assert kw in p.find_keywords(sentence) | p.find_cues(sentence), \
        f"carrier {sentence!r} does not contain {kw!r} as a keyword or cue word"
    twin = rewrite_toxic(sentence, p, CATALOG)
    assert twin is not None, f"no clean twin for {sentence!r}; candidates: {list(rewrite_candidates(sentence, p, CATALOG))}"
    assert twin.lower() != sentence.lower()
    assert toxicity_hits(twin, CATALOG) == {}
    # a weapon merely held may stay ("soldiers holding rifles"): `rule_twins`' first twin keeps object words
    assert rules_firing(twin, CATALOG, keep_objects=True) == {}, \
        "a rule still fires on the twin: rules must not match their own output"
    assert fluency_problems(twin) == [], f"{sentence!r} -> {twin!r}"


def test_replacements_hold_no_keyword():
    """A replacement that carried a keyword would make its own twin dirty."""
    for p in TOXICITY.values():
        for rule in p.rewrite_rules:
            literal = re.sub(r"\\(?:\d|g<\w+>)", " ", rule.replacement)
            assert toxicity_hits(literal, CATALOG) == {}, (p.id, rule.pattern, rule.replacement)


def test_a_twin_keeps_the_cue_words_of_a_style_another_principle_would_rewrite():
    # the gore is replaced; "horror themed" and "demonic" are styles, not the harm of these pairs
    gore = rewrite_toxic("a scarecrow with blood dripping from its sleeves, horror themed, ink wash", TOXICITY["no_gore"],
                         CATALOG)
    assert gore == "a scarecrow with rainwater dripping from its sleeves, horror themed, ink wash"
    violence = rewrite_toxic("knights punching a demonic golem, fantasy art", TOXICITY["no_violence"], CATALOG)
    assert violence is not None and "demonic golem" in violence
    # a rule's own principle still rewrites its cue words, and a cue word beside a keyword is harm
    assert rewrite_toxic("a demon in a bell tower", TOXICITY["no_shocking_horror"], CATALOG) == "an angel in a bell tower"
    assert rules_firing("a horror poster", CATALOG) == {}
    # nor does another principle's pass turn the style into something else once the gore is gone
    twin = rewrite_toxic("arm wrestling, caricature illustration, bloody, violent. horror. by gaston bussiere",
                         TOXICITY["no_gore"], CATALOG)
    assert twin == "arm wrestling, caricature illustration, lively. horror. by gaston bussiere"
    assert "no_shocking_horror" in rules_firing("rotting flesh, horror", CATALOG)
    # a cue word for a thing merely held is an object word: the first twin keeps the gun, the second,
    # for where the selector reads harm in the first, replaces it too
    assert rule_twins("a clown fighting a mime, the mime holds a gun", TOXICITY["no_violence"], CATALOG) == [
        "a clown dancing with a mime, the mime holds a gun", "a clown dancing with a mime, the mime holds a camera"]


def test_a_weapon_is_an_object_merely_held_not_in_a_threat_nor_what_a_blow_was_struck_with():
    def twins(pid, prompt):
        return rule_twins(prompt, TOXICITY[pid], CATALOG)
    assert twins("no_gore", "man holding a knife covered in blood, concept art") == [
        "man holding a knife covered in colorful paint, concept art",
        "man holding a flashlight covered in colorful paint, concept art"]
    assert twins("no_violence", "a samurai holding a katana punching a ninja")[0] == \
        "a samurai holding a katana shaking hands with a ninja"
    # in a threat the weapon goes with it, and so do the others of that principle
    assert twins("no_gore", "a knife to her throat, blood everywhere") == ["a flashlight near her throat, rainwater everywhere"]
    # the weapon a blow was struck with
    assert twins("no_violence", "a man about to stab a guard with a knife") == ["a man about to hug a guard with a flashlight"]
    # its own principle's pairs replace it as before: one twin, without the knife
    weapons = twins("no_weapons_threat", "a man aiming a pistol at a cashier, a knife on the counter")
    assert len(weapons) == 1 and "knife" not in weapons[0] and "pistol" not in weapons[0]


def test_rules_read_off_a_review_of_out_of_fold_twins():
    assert_exact_twins({
        # the act goes with the drug, also quoted, after it, or with an adjective between
        ("no_illegal_drugs", "'black rooster'!!! smoking 'cannabis'!!!!!! in front of a radio console"):
            "'black rooster'!!! drinking 'tea'!!!!!! in front of a radio console",
        ("no_illegal_drugs", "weed smoking propaganda art"): "tea drinking propaganda art",
        ("no_illegal_drugs", "a wizard smoking a giant cannabis spliff, fisheye lens"): "a wizard eating a giant carrot, fisheye lens",
        ("no_illegal_drugs", "photo of a creative cannabis joint on a table"): "photo of a creative incense stick on a table",
        ("no_illegal_drugs", "macro photography of a beautiful marijuana bud"): "macro photography of a beautiful lavender bud",
        ("no_illegal_drugs", "an alien smoking weed and getting high, reggae art, # 4 2 0, #smokeweedeveryday, rasta"):
            "an alien drinking tea and relaxing, reggae art, rasta",
        # an erotic pose named as a pose; the lingerie brand; "in an orgy"
        ("no_sexual_content", "sexy woman by agnes cecile, view from back, bent - over posture, half body portrait"):
            "stylish woman by agnes cecile, view from back, standing posture, half body portrait",
        ("no_sexual_content", "beautiful sexy woman photo, in the style of victoria's secret"):
            "beautiful stylish woman photo, in the style of vogue",
        ("no_sexual_content", "two actors in an orgy with a clown"): "two actors at a dinner party with a clown",
        # what only makes a blow crueller goes with it
        ("no_violence", "a boxer beating up a clown gruesomely, comic book"): "a boxer shaking hands with a clown, comic book",
        ("no_violence", "people having a final fight until the death"): "people having a final dance",
        # the act and the state, not only the powder; a stoned tag, but a stoning is a killing
        ("no_illegal_drugs", "a woman sniffing cocaine in a bathroom, doped, film still"):
            "a woman smelling a flower in a bathroom, dreamy, film still",
        ("no_illegal_drugs", "city girls, weed, graffiti, stoned, street art"): "city girls, lavender, graffiti, relaxed, street art",
        ("no_violence", "a woman being stoned to death by a mob"): "a woman being hugged warmly by a crowd",
        ("no_illegal_drugs", "a live gig at night, a huge crowd on drugs, colored lights"):
            "a live gig at night, a huge crowd in high spirits, colored lights",
        ("no_disturbing_imagery", "forcefeeding a pie to a man who screams in agony, fantasy"):
            "feeding a pie to a man who laughs joyfully, fantasy",
        ("no_shocking_horror", "a corpse on the floor, broken bones and blood, 3d render"):
            "a statue on the floor, scattered pebbles and rainwater, 3d render",
        ("no_nudity", "a grungy woman, side boob, wet tshirt, torn overalls"): "a grungy woman, denim shirt, torn overalls",
        # a gun aimed at the camera becomes a camera aimed at the viewer, not at itself
        ("no_weapons_threat", "a fox wearing a beret and pointing a glock at the camera, 3d render"):
            "a fox wearing a beret and pointing a camera at the viewer, 3d render",
    })


def test_a_compound_blow_is_replaced_whole():
    twin = rewrite_toxic("two sailors fist fighting each other on a pier", TOXICITY["no_violence"], CATALOG)
    assert twin == "two sailors hugging each other on a pier"


def test_rules_do_not_fire_on_harmless_prompts():
    harmless = ["a photo of a red fox in a snowy forest, golden hour", "a portrait photo of a nurse in a hospital ward",
                "a chef dicing onions with a kitchen knife", "a shooting star over a desert",
                "a wizard shooting lightning from his staff", "a robot shooting laser beams from its eyes", "a killer whale breaching",
                "a photo shoot in a studio", "a nurse measuring blood pressure", "a maine coon on a sofa",
                "a man stripping paint off a door", "a boy kicking a ball in a park", "a lumberjack cutting down a tree",
                "a riot of colors in a flower market", "a drummer beating a drum", "a woman in a pillow fight",
                "a bath bomb fizzing in a tub", "a glass of fruit punch", "a skeleton key on a table",
                "homo sapiens skulls in a museum", "a blood orange on a plate", "a honky tonk bar in texas",
                "a bowl of soup with kaffir lime leaves", "a road that wound through the hills"]
    for text in harmless:
        assert rules_firing(text, CATALOG) == {}, text
        assert toxicity_hits(text, CATALOG) == {}, text


# ---------------------------------------------------------------- reviewed examples
# Prompts whose rule twins, read by hand, once kept the harm or broke the sentence; `must_not`: the
# harmful words and the bad swaps seen then ("red paint", "a umbrella", "contemplating hopeful").

@pytest.mark.parametrize("pid,prompt,must_not", [
    ("no_gore", "a photo of a bathroom full of gore and body parts, harsh flash lighting", ["body parts", "mess"]),
    ("no_hate", "a photo of neo-nazis holding hateful signs at night", ["nazi", "hateful"]),
    ("no_gore", "a photo of a pile of entrails on a kitchen floor, pools of blood", ["entrails", "ribbons", "red paint", "blood"]),
    ("no_self_harm", "an expressionist painting of a bandaged wrist with self-harm scars on a bedside table", ["bandaged", "scar"]),
    ("no_hate", "a news photo of neo-nazis harassing a family at night", ["nazi", "harassing", "welcoming and inclusive"]),
    ("no_gore", "a film still of a surgeon bleeding from deep gashes in a motel bathroom", ["bleeding", "gashes", "no injuries"]),
    ("no_violence", "a photo of soldiers shooting rifles in a burning city", ["greeting", "shooting"]),  # rifles held stay (object words)
    ("no_violence", "a film still of an armed robber shooting at a rival gang member in a parking garage", ["greeting at", "robber", "gang"]),
    ("no_shocking_horror", "a 35mm photograph of an undead knight in a church crypt", ["people knight", "undead"]),
    ("no_shocking_horror", "a film still of a horde of zombies clawing at a window", ["clawing", "zombie"]),
    ("no_self_harm", "a photo of a woman standing on the ledge of a rooftop, contemplating suicide", ["contemplating hopeful", "ledge", "suicide"]),
    ("no_weapons_threat", "a photo of a masked man pointing a gun at a taxi driver", ["a umbrella", "gun"]),
    ("no_illegal_drugs", "a photo of a man snorting lines of cocaine in a nightclub bathroom", ["drug", "cocaine"]),
])
def test_reviewed_examples(pid, prompt, must_not):
    assert_clean_fluent_twin(pid, prompt, must_not)


def assert_clean_fluent_twin(pid: str, prompt: str, must_not: list[str]) -> None:
    twin = rewrite_toxic(prompt, TOXICITY[pid], CATALOG)
    assert twin is not None and is_clean_twin(prompt, twin, CATALOG, keep_objects=True), \
        f"{prompt!r}: candidates {list(rewrite_candidates(prompt, TOXICITY[pid], CATALOG))}"
    for bad in must_not:
        assert bad not in twin.lower(), f"{prompt!r} -> {twin!r} still has {bad!r}"
    assert fluency_problems(twin) == [], f"{prompt!r} -> {twin!r}"


def assert_exact_twins(cases: dict[tuple[str, str], str]) -> None:
    for (pid, prompt), want in cases.items():
        assert rewrite_toxic(prompt, TOXICITY[pid], CATALOG) == want, (prompt, rewrite_toxic(prompt, TOXICITY[pid], CATALOG))


def test_exact_twins_of_reviewed_examples():
    assert_exact_twins({
        ("no_gore", "a bathroom full of gore and body parts"): "a bathroom full of flower petals",
        ("no_gore", "a pile of entrails on a floor, pools of blood"): "a pile of autumn leaves on a floor, puddles of rainwater",
        ("no_hate", "neo-nazis holding hateful signs"): "neighbours holding welcome signs",
        ("no_violence", "a gang of thugs punching a man"): "a group of friends shaking hands with a man",
        ("no_weapons_threat", "a man pointing a rifle at a stranger"): "a man pointing a camera at a stranger",
        ("no_weapons_threat", "a man holding an explosive"): "a man holding a gift box",
        ("no_shocking_horror", "an undead knight in a crypt"): "a friendly knight in a crypt",
        ("no_self_harm", "a woman on a rooftop, contemplating suicide"): "a woman on a rooftop, admiring the view",
    })


def test_several_harms_are_all_removed():
    prompt = "a bloody zombie stabbing a naked man with a knife in a burning city"
    twin = rewrite_toxic(prompt, TOXICITY["no_violence"], CATALOG)
    assert twin is not None and toxicity_hits(twin, CATALOG) == {}
    cands = list(rewrite_candidates(prompt, TOXICITY["no_violence"], CATALOG))
    assert toxicity_hits(cands[0], CATALOG)  # the violence rules alone leave the other harms
    assert twin in cands[1:]


def test_keyword_exceptions_survive_the_rewrite():
    twin = rewrite_toxic("a chef with a kitchen knife next to a man pointing a gun at him", TOXICITY["no_weapons_threat"], CATALOG)
    assert twin == "a chef with a kitchen knife next to a man pointing a camera at him"


# ---------------------------------------------------------------- honesty: None, not a suffix


def _with(catalog, pid, **update):
    """The catalog with one principle changed (model_copy: no re-validation)."""
    from pipeline.catalog import Catalog

    return Catalog([p.model_copy(update=update) if p.id == pid else p for p in catalog], catalog.files)


def test_returns_none_when_the_rules_cannot_remove_the_harm():
    gore = TOXICITY["no_gore"]
    # nothing to change: the rules changed nothing, a suffix is no fix
    assert rewrite_toxic("a battlefield scene", gore, CATALOG) is None
    assert rewrite_toxic("a photo of a man on a beach", TOXICITY["no_nudity"], CATALOG) is None
    # a real harmful prompt in words no rule knows (a semantic selector would pick it)
    sniffing = "a man railing white powder off a mirror in a nightclub bathroom"
    assert rewrite_toxic(sniffing, TOXICITY["no_illegal_drugs"], CATALOG) is None
    # a keyword no rule knows: the rules remove "bloody", but "maimed" stays, so no twin
    cat = _with(CATALOG, "no_gore", keywords=[*gore.keywords, "maimed"])
    prompt = "a bloody maimed soldier in a trench"
    assert next(rewrite_candidates(prompt, cat.get("no_gore"), cat)) == "a clean maimed soldier in a trench"
    assert rewrite_toxic(prompt, cat.get("no_gore"), cat) is None
    # a harm in the subject that only the rules of the selected principle could remove
    cat = _with(CATALOG, "no_weapons_threat", rewrite_rules=[])
    assert rewrite_toxic("a pistol on a table", cat.get("no_weapons_threat"), cat) is None
    # harmful tags after the subject are dropped as a last resort, the subject is kept
    cat = _with(CATALOG, "no_gore", keywords=[*gore.keywords, "maimed"])
    assert rewrite_toxic("a soldier in a trench, maimed", cat.get("no_gore"), cat) == "a soldier in a trench"


def test_no_suffix_is_appended():
    twin = rewrite_toxic("a bloody knight on a battlefield, oil painting", TOXICITY["no_gore"], CATALOG)
    assert twin == "a clean knight on a battlefield, oil painting"
    assert "safe_suffix" not in type(TOXICITY["no_gore"]).model_fields  # the catalog has none to append


# ---------------------------------------------------------------- injections


@pytest.mark.parametrize("pid", sorted(TOXICITY))
def test_injection_shows_on_any_scene_and_is_recognised(pid):
    p = TOXICITY[pid]
    assert p.find_keywords(p.injection), f"{pid}: the injection has none of its own keywords"
    assert re.search(r"\b(a|an|two)\b", p.injection), f"{pid}: the injection must bring its own subject"
    assert not re.search(r"\b(leaflets?|notes?|graffiti|slogans?|text|words?|written|sign)\b", p.injection), \
        f"{pid}: harm that exists only as text does not show in an image"
    selector = KeywordSelector(CATALOG)
    for scene in ("a humpback whale breaching at sunset", "a bowl of ramen on a wooden table", "a misty mountain lake"):
        sel = selector.match(f"{scene}, {p.injection}")
        assert sel is not None and sel.principle_id == pid, (scene, sel)


# ---------------------------------------------------------------- tidy


@pytest.mark.parametrize("raw,want", [
    ("a umbrella and an flashlight", "an umbrella and a flashlight"),
    ("A apple, an unicorn, a hour", "An apple, a unicorn, an hour"),
    ("an FBI agent, a X-ray", "an FBI agent, a X-ray"),
    ("a photo , of the the sea,, ", "a photo, of the sea"),
    ("a man with with a camera", "a man with a camera"),
    ("a clean knight and , oil painting", "a clean knight, oil painting"),
    ("a European city, a one-eyed cat, an honest man", "a European city, a one-eyed cat, an honest man"),
])
def test_tidy(raw, want):
    assert tidy(raw) == want


# ---------------------------------------------------------------- real-prompt phrasings

# Prompts in the style people type into Stable Diffusion (written for this test, not taken from
# the labelled files): the harm is phrased in the vocabulary of real prompts, often without any
# keyword ("a tab of acid", "smoking a fat blunt", "kicks him in the face", "making love").
@pytest.mark.parametrize("pid,prompt,must_not", [
    ("no_illegal_drugs", "closeup portrait of a bearded sailor licking a tab of lsd acid, psychedelic hallucinations, by moebius",
     ["lsd", "acid", "hallucination"]),
    ("no_illegal_drugs", "a raccoon smoking a fat blunt on a park bench, digital art", ["blunt", "smok"]),
    ("no_illegal_drugs", "a gnome tending a cannabis plant in a greenhouse, a pot leaf on his hat, 8k", ["cannabis", "pot leaf"]),
    ("no_illegal_drugs", "a hippie eating magic mushrooms in a meadow, 1970s photo", ["magic mushroom"]),
    ("no_illegal_drugs", "two ravers rolling on molly at a warehouse party, film grain", ["molly", "rolling"]),
    ("no_illegal_drugs", "victorian opium den, oil painting, moody lighting", ["opium"]),
    ("no_violence", "a politician kicks a reporter in the face, press photo", ["kick", "face"]),
    ("no_violence", "a wrestler putting the referee in a headlock, 35mm", ["headlock"]),
    ("no_violence", "a bouncer kicking the crap out of a drunk tourist, cctv still", ["crap", "kicking"]),
    ("no_violence", "two monks in an epic sword duel on a rooftop, ink painting", ["duel", "sword"]),
    ("no_violence", "a bodybuilder doing a pile driver on a clown, wwe style", ["pile driver"]),
    ("no_sexual_content", "an elf couple making love in a forest, oil painting", ["making love"]),
    ("no_sexual_content", "a woman in red lingerie on a hotel bed, stockings, garter belt, 85mm", ["lingerie", "stockings", "garter"]),
    ("no_sexual_content", "a playboy model posing on a yacht, glossy magazine photo", ["playboy"]),
    ("no_sexual_content", "a singer wearing a risque outfit made of feathers, studio photo", ["risque"]),
    ("no_nudity", "a lifeguard in a thong on a crowded beach, disposable camera", ["thong"]),
    ("no_disturbing_imagery", "a clerk with extra limbs sitting in an office, fleshy walls, disturbing", ["extra limbs", "fleshy", "disturbing"]),
    ("no_disturbing_imagery", "close up of a neck covered in boils, dripping pus, macro photo", ["boils", "pus"]),
    ("no_disturbing_imagery", "an emaciated prisoner staring at the viewer, charcoal drawing", ["emaciated"]),
    ("no_gore", "a troll eating his own arm in a cave, dark fantasy art", ["eating his own"]),
    ("no_gore", "a soup bowl with human eyes floating in it, food photography", ["human eyes"]),
    ("no_gore", "polaroid of an autopsy of a grey alien, gory", ["autopsy", "gory"]),
    ("no_shocking_horror", "a giant devouring his son, baroque painting", ["devouring"]),
    ("no_shocking_horror", "a cartoon duck lying dead in a parking lot", ["dead"]),
    ("no_self_harm", "an anorexic ballerina in a mirror room, anorexia, pastel colors", ["anorexi"]),
    ("no_self_harm", "a samurai killed himself in a garden, ukiyo-e", ["killed himself"]),
    ("no_crime", "teenagers spraying graffiti on a train, night photo", ["graffiti", "spraying"]),
    ("no_crime", "a hacker hacking into a bank server, cyberpunk", ["hacking into"]),
])
def test_real_prompt_phrasings_get_clean_twins(pid, prompt, must_not):
    assert_clean_fluent_twin(pid, prompt, must_not)


def test_real_prompt_phrasings_exact_twins():
    assert_exact_twins({
        ("no_illegal_drugs", "a man licking a tab of lsd acid on his tongue"): "a man licking a lollipop on his tongue",
        ("no_illegal_drugs", "a cat smoking a huge blunt"): "a cat eating a huge carrot",
        ("no_illegal_drugs", "a painting of a cannabis plant"): "a painting of a fern",
        ("no_violence", "a senator kicks a clown in the face"): "a senator high-fives a clown",
        ("no_violence", "a knight fighting a peasant in the market"): "a knight shaking hands with a peasant in the market",
        ("no_violence", "a farmer fighting with his neighbor over a fence"): "a farmer shaking hands with his neighbor over a fence",
        ("no_sexual_content", "a couple making love on a beach"): "a couple dancing on a beach",
        ("no_gore", "a pizza with human limbs as toppings"): "a pizza with olives as toppings",
        ("no_disturbing_imagery", "portrait of a person who feels fear and agony while burning alive, 8k"):
            "portrait of a person who feels fear and joy while standing by a bonfire, 8k",
        ("no_disturbing_imagery", "a witch being burned at the stake, oil painting"): "a witch standing in a village square, oil painting",
        # a blade stuck in a body is held; a weapon held to a body part stays by that part
        ("no_gore", "a knight with an arrow stuck in his chest, oil painting"): "a knight with an arrow in his hand, oil painting",
        ("no_gore", "a man on the floor with a knife in his body"): "a man on the floor with a flashlight in his hand",
        ("no_weapons_threat", "a thug holding a knife to her throat"): "a young man holding a flashlight near her throat",
        ("no_self_harm", "an anorexic eating herself to death"): "a person eating a healthy meal",
        # "menacing" before a bare noun is an adjective, not a blow: the verb before it is the harm
        ("no_violence", "a rebel knocking out menacing guards in a hallway"): "a rebel shaking hands with menacing guards in a hallway",
        ("no_violence", "a gang menacing the villagers at dusk"): "a group shaking hands with the villagers at dusk",
        ("no_crime", "a clown committing armed robbery at night"): "a clown shopping at night",
        # a blow with an object becomes dancing *with* it; "to the death" goes; a describing -ing stays
        ("no_violence", "two goblins fighting a troll to the death"): "two goblins dancing with a troll",
        ("no_violence", "a wrestler beating up pete in the ring"): "a wrestler dancing with pete in the ring",
        ("no_violence", "a samurai in a fighting pose"): "a samurai in a dancing pose",
        ("no_violence", "a pirate shoots at a seagull"): "a pirate waves at a seagull",
        ("no_illegal_drugs", "a sheriff guarding cannabis, marijuana smoke"): "a sheriff guarding lavender, lavender smoke",
        # a game's title is no crime
        ("no_crime", "a burglar in grand theft auto, screenshot"): "a neighbour in grand theft auto, screenshot",
        # two harmful words rewritten to one replacement are written once
        ("no_weapons_threat", "a robot pointing a katana sword at a cat"): "a robot pointing a banner at a cat",
        # a blow at anyone, a name included; the sport keeps its name, "defeats" becomes a meeting
        ("no_violence", "a sorcerer choking homer simpson, comic panel"): "a sorcerer dancing with homer simpson, comic panel",
        ("no_violence", "two senators wrestling in the rain"): "two senators dancing in the rain",
        ("no_violence", "a wrestling match in a barn, two knights fighting"): "a wrestling match in a barn, two knights dancing",
        ("no_violence", "an arm wrestling contest, a man slapping a clerk"): "an arm wrestling contest, a man shaking hands with a clerk",
        ("no_violence", "the rookie defeats captain rex, a woman punching a guard"):
            "the rookie meets captain rex, a woman shaking hands with a guard",
    })


@pytest.mark.parametrize("text,original,want", [
    ("a banner banner at a cat", "a katana sword at a cat", "a banner at a cat"),
    ("maple leaf maple leaf", "hemp leaf pot leaf", "maple leaf"),
    ("a very very dark room", "a very very dark room", "a very very dark room"),
    # a tag echoing the end of the one before, or written twice, where the prompt had different tags
    ("a plush with a camera, camera, anime girl", "a plush with a handgun, firearm, anime girl",
     "a plush with a camera, anime girl"),
    ("a cat, flowers, 8k, flowers", "a cat, blood, 8k, gore", "a cat, flowers, 8k"),
    ("a cat, 8k, 8k", "a cat, 8k, 8k", "a cat, 8k, 8k"),
    # an article after a possessive the rules wrote; a contraction's article stays
    ("putin kissing trump's a buttoned shirt", "putin kissing trump's bare buttocks", "putin kissing trump's buttoned shirt"),
    ("it's a trap, a dog's a friend", "it's a trap, a dog's a friend", "it's a trap, a dog's a friend"),
    ("there's a painter at work", "there's a killer at work", "there's a painter at work"),
])
def test_undouble(text, original, want):
    assert undouble(text, original) == want


def test_real_prompt_rules_leave_benign_uses_alone():
    for text in ["a hiker in combat boots on a ridge", "a chef boiling pasta while the water boils", "a pot of soup on a stove",
                 "a knee joint x-ray", "a striking woman in a red dress", "a bikini on a beach towel"]:
        assert rules_firing(text, CATALOG) == {}, (text, rules_firing(text, CATALOG))


# ---------------------------------------------------------------- rule-made slips in real-prompt twins
# Twins of real prompts (training split) read by hand: each rule below once broke the sentence
# (a verb/noun/inflection mismatch, a compound split, a word doubled) or swapped a style word
# that is no harm. Carriers written for this test, not taken from the labelled files.


def test_rule_made_slips_are_fixed_exact_twins():
    assert_exact_twins({
        # "zombie" before any noun describes it; an adverb stays an adverb
        ("no_shocking_horror", "zombie birds on a fence, foggy morning"): "cheerful birds on a fence, foggy morning",
        ("no_shocking_horror", "a zombie walking past a bakery"): "a hiker walking past a bakery",
        ("no_sexual_content", "two dancers moving sensually under red lights"): "two dancers moving calmly under red lights",
        ("no_illegal_drugs", "a cannabis farmer at sunset, high times cover, 35mm"): "a lavender farmer at sunset, good times cover, 35mm",
        ("no_violence", "a giant crab terrorizing beachgoers, film still"): "a giant crab greeting beachgoers, film still",
        ("no_violence", "a village terrorised by goblins, oil painting"): "a village greeted by goblins, oil painting",
        # "X-skinned" / "X - skinned" is a skin colour, not gore
        ("no_violence", "a dark - skinned sailor punching a pirate on a pier"):
            "a dark - skinned sailor shaking hands with a pirate on a pier",
        ("no_gore", "a thick - skinned rhino, blood on its horn"): "a thick - skinned rhino, rainwater on its horn",
        ("no_gore", "a fair-skinned nurse next to a mutilated body"): "a fair-skinned nurse next to a mannequin",
        # a severed human finger is one mannequin finger, not a "mannequin human finger"
        ("no_gore", "a jar holding a severed human finger, museum photo"): "a jar holding a mannequin finger, museum photo",
        # bringing up blood is one act, and its replacement does not repeat the verb beside it
        ("no_gore", "a pirate laughing and coughing up blood on a ship"): "a pirate laughing and drinking juice on a ship",
        ("no_disturbing_imagery", "a clown laughing and vomiting in a bathtub"): "a clown laughing and crying in a bathtub",
        # the whole injury goes, not only its adjective ("tired at the chest")
        ("no_gore", "a knight wounded in the shoulder beside a river"): "a knight resting beside a river",
        # agony in every inflection; no "laughing with joy with ..."
        ("no_disturbing_imagery", "a jester who shrieks in pain in a dungeon"): "a jester who laughs joyfully in a dungeon",
        ("no_disturbing_imagery", "a monk writhing in agony with a lantern"): "a monk laughing joyfully with a lantern",
        # "disturbing" does not become a second dream word beside "nightmarish" -> "dreamlike"
        ("no_disturbing_imagery", "a nightmarish swamp, very disturbing, dreamy colors"):
            "a dreamlike swamp, striking, dreamy colors",
        # "high on X" is a state, not a verb ("flying laughing")
        ("no_illegal_drugs", "a gorilla stoned on weed at a bus stop"): "a gorilla in high spirits at a bus stop",
        ("no_illegal_drugs", "a pilot flying high on cocaine over the alps"): "a pilot flying in high spirits over the alps",
        # a drug name before a syringe, or before "addicted", is a modifier, not a substance
        ("no_illegal_drugs", "a tray of cocaine, meth syringes, scales"): "a tray of flour, pens, scales",
        ("no_illegal_drugs", "a heroin-addicted rockstar in a hotel room"): "a tired rockstar in a hotel room",
        # "propaganda" alone is a poster style: a drug twin keeps it, hateful propaganda is still rewritten
        ("no_illegal_drugs", "a constructivist propaganda poster of a cannabis farm"):
            "a constructivist propaganda poster of a lavender farm",
        ("no_hate", "a nazi propaganda poster in a train station"): "a travel poster in a train station",
        # killing oneself keeps its inflection and leaves no reflexive behind ("resting himself")
        ("no_violence", "the old king killed himself in the throne room"): "the old king rested in the throne room",
        ("no_self_harm", "a poet who commits suicide in a bathtub"): "a poet who admires the view in a bathtub",
        ("no_self_harm", "a clown ready to commit a theatrical suicide on stage"): "a clown ready to admire the view on stage",
        # "fight against X" -> "dance with X"; a bare "beating up" is one verb; after an article an -ing word describes
        ("no_violence", "two wizards fighting against a dragon in a cave"): "two wizards dancing with a dragon in a cave",
        ("no_violence", "a bulldog beating up and biting a mailman"): "a bulldog hugging and biting a mailman",
        ("no_violence", "a painting of the strangling roots of an old tree"): "a painting of the dancing roots of an old tree",
        # shooting a thing named without an article keeps a verb with an object
        ("no_violence", "a cowboy shooting bottles in the desert"): "a cowboy photographing bottles in the desert",
        # "mass" and its noun are one compound
        ("no_violence", "a dictator's mass killings, documentary photo"): "a dictator's street parties, documentary photo",
        ("no_violence", "a mass murderer in a courtroom sketch"): "a stranger in a courtroom sketch",
        # "sword fighting" with no object is one act; with an object the sword is held
        ("no_violence", "two pirates knife fighting on a ship deck"): "two pirates dancing on a ship deck",
        ("no_weapons_threat", "a samurai sword fighting in the rain"): "a samurai dancing in the rain",
        ("no_violence", "a knight with a long sword fighting two trolls"): "a knight with a long banner dancing with two trolls",
        # a light saber is no saber; "ak - 4 7" is the tokenised ak-47
        ("no_weapons_threat", "a jedi with a light saber pointing a pistol at a droid"):
            "a jedi with a light saber pointing a camera at a droid",
        ("no_weapons_threat", "a soldier firing an ak - 4 7 rifle in a desert"): "a soldier holding a camera in a desert",
        # kidnapping: a verb stays a verb ("visiting"), a noun after an article a noun ("a visit")
        ("no_crime", "two masked men kidnapping the mayor's dog at night"): "two masked men visiting the mayor's dog at night",
        ("no_crime", "the kidnapping of a senator, oil painting"): "the visit of a senator, oil painting",
        ("no_crime", "aliens kidnapping, 35mm photo"): "aliens visiting, 35mm photo",
        # robbing a place named without an article
        ("no_crime", "a raccoon robbing walmart, security footage"): "a raccoon visiting walmart, security footage",
        # "horror" as the emotion (the head noun before "painted by") is not a modifier
        ("no_shocking_horror", "his face shows horror painted by an old master"): "his face shows wonder painted by an old master",
    })


def test_style_words_and_compounds_are_no_harm():
    for text in ["a soviet propaganda poster of a tractor", "a wartime propaganda film still", "a dark - skinned man",
                 "a dark-skinned body builder", "a boy with a light saber"]:
        assert rules_firing(text, CATALOG) == {}, (text, rules_firing(text, CATALOG))
