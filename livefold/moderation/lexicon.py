"""The words and phrases the lexicon classifiers weigh, by category. Entries are folded like
messages (so "stupid" also covers "STUP1D", "stuuupid"); a weight is how abusive the entry is
in the worst reading its category allows (aimed at someone, for insults). Tiers line up with
the medium level (`toxicity.THRESHOLDS`): 0.6..0.84 holds, 0.85 and up blocks.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """AutoMod-like categories, each with its own sensitivity per stream; spam is judged by
    `spam` and has its own settings."""

    THREAT = "threat"  # violence, doxxing, incitement to self-harm
    HATE = "hate"  # slurs, attacks on who someone is
    SEXUAL = "sexual"
    INSULT = "insult"
    PROFANITY = "profanity"


def _tier(weight: float, words: str) -> dict[str, float]:
    return {word.replace("_", " "): weight for word in words.split()}


THREAT: dict[str, float] = {
    **_tier(0.97, "kys kill_yourself kill_urself kill_your_self kill_ur_self end_yourself"),
    **_tier(0.95, "killyourself killurself kill_youself kill_yoself kill_yaself kill_ya_self"),
    **_tier(0.95, "neck_yourself hang_yourself unalive_yourself unalive_urself off_yourself"),
    **_tier(0.95, "rope_yourself drink_bleach sewer_slide toaster_bath"),
    **_tier(0.9, "an_hero unalive"),
    **_tier(0.9, "cut_yourself cut_urself kill_urseif go_hang"),
    **_tier(0.85, "dox doxx doxxed doxxing doxing swatting swatted"),
    **_tier(0.85, "get_cancer walk_off_a_short_pier toaster_in_the_bath toaster_in_your_bath"),
    **_tier(0.85, "bath_with_a_toaster"),
}  # fmt: skip

HATE: dict[str, float] = {
    **_tier(0.97, "nigger nigga niggers niggas nigg3r faggot fag fags faggots faggy tranny"),
    **_tier(0.97, "niqqa niqqer nigguh niga nigs"),
    **_tier(0.97, "trannies chink chinks gook gooks spic spics kike kikes wetback wetbacks"),
    **_tier(0.95, "raghead ragheads towelhead towelheads sandnigger beaner beaners coon coons"),
    **_tier(0.95, "paki pakis dyke dykes shemale porch_monkey jungle_bunny"),
    **_tier(0.9, "subhuman subhumans untermensch go_back_to_your_country dirty_immigrant"),
    **_tier(0.9, "hitler_was_right go_back_to_africa go_back_to_mexico go_back_to_china"),
    **_tier(0.9, "go_back_where_you_came_from go_back_to_where_you_came_from your_kind"),
    **_tier(0.9, "you_people_are_animals heil_hitler sieg_heil white_power"),
    **_tier(0.85, "retard retards retarded tard mongoloid spastic spaz spazz"),
    **_tier(0.7, "because_she_s_a_woman because_shes_a_woman women_belong_in_the_kitchen"),
}  # fmt: skip

SEXUAL: dict[str, float] = {
    **_tier(0.9, "send_nudes show_your_tits show_us_your_tits show_me_your_tits suck_my_dick"),
    **_tier(0.9, "suck_my_cock dick_pic blowjob blow_job handjob rimjob cumslut cum_on_you"),
    **_tier(0.85, "tits_or_gtfo show_feet"),
    **_tier(0.8, "nudes titties tits boobs boobies pussy"),
    **_tier(0.75, "horny porn pornhub onlyfans cum cumming jizz dildo milf sexy_time"),
    **_tier(0.7, "sit_on_my_face wanna_bang wanna_fuck send_pics send_feet_pics feet_pics"),
    **_tier(0.7, "show_feet show_boobs show_bobs bend_over dtf jack_off jerk_off"),
}  # fmt: skip

INSULT: dict[str, float] = {
    **_tier(0.85, "fuck_you fuck_u fuk_you fuck_off_and_die screw_you_and subhuman scum"),
    **_tier(0.8, "bitch bitches biatch beyotch asshole assholes arsehole dickhead cunt cunts"),
    **_tier(0.8, "whore whores slut sluts thot hoe hoes skank twat wanker prick motherfucker"),
    **_tier(0.8, "pedo pedophile paedo nonce groomer incel cuck cuckold degenerate"),
    **_tier(0.75, "bastard waste_of_space waste_of_oxygen waste_of_air piece_of_shit parasite"),
    **_tier(0.6, "worthless pathetic disgrace nobody_likes_you no_one_likes_you"),
    **_tier(0.6, "idiot idiots moron morons imbecile cretin dumbass jackass halfwit nitwit"),
    **_tier(0.6, "braindead brain_dead dimwit numbskull dipshit shithead douche douchebag"),
    **_tier(0.6, "fatass fat_pig fat_slob slob mouth_breather knuckle_dragger neckbeard"),
    **_tier(0.6, "loser losers clown clowns simp virgin talentless hack psycho psychopath"),
    **_tier(0.55, "dumbest stupidest ugliest stupid dumb ugly disgusting trash garbage freak"),
    **_tier(0.55, "creep jerk pig rat donkey"),
    **_tier(0.55, "muppet buffoon dork dogwater washed_up fraud useless"),
    **_tier(0.55, "iq_of_a no_life no_friends get_a_life get_a_job get_a_real_job mom_s_basement"),
    **_tier(0.55, "uninstall mentally_ill nutjob lunatic sicko scumbag"),
    **_tier(0.55, "shut_up stfu gtfo fuck_off piss_off go_away nobody_asked nobody_cares"),
    **_tier(0.55, "no_one_cares"),
    **_tier(0.55, "you_suck u_suck hate_you screw_you annoying joke embarrassing"),
    **_tier(0.45, "rent_free fell_off ratio washed"),
    **_tier(0.5, "yo_mama sit_down gross creepy weirdo"),
    **_tier(0.45, "cringe bot bots npc"),
    **_tier(0.45, "nerd noob"),
    **_tier(0.6, "knobhead bellend tosser numpty plonker pillock prat twit dunce dumbo airhead"),
    **_tier(0.6, "failure crybaby snowflake bozo fatso lardass pervert perv brainlet smoothbrain"),
    **_tier(0.6, "smooth_brain pea_brain room_temperature_iq two_brain_cells dumbfuck fuckface"),
    **_tier(0.6, "asswipe shitstain manlet soyboy bimbo trailer_trash asshat jerkoff"),
    **_tier(0.6, "disappointment worst_streamer shut_your_mouth shut_ur_mouth nobody_watches_you"),
    **_tier(0.6, "ashamed_of_you ears_bleed waste_of_a_human waste_of_skin nobody_likes_your"),
    **_tier(0.6, "no_one_likes_your no_one_loves_you nobody_loves_you everyone_hates_you"),
    **_tier(0.6, "everybody_hates_you nobody_wants_you no_one_wants_you make_me_sick"),
    **_tier(0.6, "disgust_me quit_streaming get_off_the_internet aborted_you dropped_as_a_baby"),
    **_tier(0.6, "dropped_on_your_head personality_of_a fatherless embarrassment illiterate"),
    **_tier(0.6, "keyboard_warrior can_you_even_read zero_talent no_talent vile dogshit"),
    **_tier(0.6, "worst_player walking_l imagine_being_you don_t_deserve dad_left"),
}  # fmt: skip

# Describing words that insult only when said of someone ("you're terrible at this"); said
# alone they are as likely about the game ("terrible"), so they never count as a bare insult.
INSULT_ADJECTIVES: dict[str, float] = _tier(
    0.5,
    "terrible awful horrible bad boring lame dense slow unwatchable unfunny obnoxious "
    "insufferable clueless hopeless incompetent fat smelly stinky bald obese",
)

PROFANITY: dict[str, float] = {
    **_tier(0.8, "fuck fucking fucker fuckin fucked fucks fck fcking fk fkn fking fuk fukin"),
    **_tier(0.8, "fukkin phuck phucking effing motherfucking motherfucker mf mofo fuckery"),
    **_tier(0.75, "shit shitty shite shits shitting shitshow bullshit horseshit batshit"),
    **_tier(0.75, "bitch cunt cock dick twat wanker prick bollocks bastard asshole arse"),
    **_tier(0.75, "ass jackass dumbass goddamn goddamnit tits piss pissed stfu gtfo"),
    **_tier(0.75, "azz azzhole cvnt"),
    **_tier(0.7, "eff eff_off eff_you omfg holy_shit son_of_a_bitch kiss_my_ass screw_you"),
    **_tier(0.8, "fvck fvcking cocksucker dumbfuck fuckface fuckwit shyt f_you f_off f_u"),
    **_tier(0.7, "bugger sodding pissing f_this what_the_f dogshit"),
    **_tier(0.5, "wtf wth ffs jfc"),
    **_tier(0.25, "crap crappy bloody damn dammit"),
}  # fmt: skip

LEXICONS: dict[Category, dict[str, float]] = {
    Category.THREAT: THREAT,
    Category.HATE: HATE,
    Category.SEXUAL: SEXUAL,
    Category.INSULT: INSULT,
    Category.PROFANITY: PROFANITY,
}

# Swearing that shows inside other words ("clusterfuck", "unfuckingbelievable"): no word of
# any language a chat is likely in contains these.
PROFANE_INFIXES = ("fuck", "fvck", "phuck")

# Entries that aim at the reader by their wording ("go die" needs no "you").
AIMED_BY_WORDING = frozenset(
    {"kys", "kill yourself", "kill urself", "go die", "end yourself", "neck yourself",
     "fuck off", "stfu", "gtfo", "fuck you", "piss off", "uninstall", "get a life",
     "get a job", "get a real job"}
)  # fmt: skip

# Who an insult can be aimed at: the reader, a person named or pointed at, the chat.
TARGETS = (
    "you u ur your youre yourself urself ya yall thou streamer streamers he she him her they "
    "them guy guys dude bro girl boy man woman mods mod chat chatters people person human "
    "everyone somebody someone kid kiddo buddy mate"
)
SELF = "i im me myself my we us our"
NEGATIONS = "not no never isnt arent dont wasnt werent nothing isn aren don wasn weren doesn didn"
INTENSIFIERS = "so such very really fucking total totally absolute complete literal literally"
# Words that do not change who a bare insult is aimed at ("what a moron", "ok virgin").
# Words before an insult that make it a description of something ("this boss is trash"),
# not a name called at the end of a line ("learn to play idiot", "touch grass loser").
DESCRIBING = "is are was were be a an the so such this that its it s very too"
FILLERS = (
    "a an the what such so ok okay lol lmao lmfao rofl imagine being just literally actual "
    "total totally absolute complete big little ass damn omg bro dude man is are was be and "
    "of u ur you youre"
)
